//! W1 order to cash 订单到收款 over HTTP.
//!
//! Each client loops over one whole chain: a 5-line sales order created without prices (so the
//! pricing engine, the cost estimate and the promise run), submitted (price controls, the
//! salesperson's amount limit and credit control run) and approved (stock is reserved); a
//! delivery pushed down from its five lines, submitted (credit again) and approved (stock
//! posted, reservations released); an invoice pushed down from the delivery lines, submitted
//! and approved (a receivable opens); a receipt settling the invoice in full, submitted and
//! approved. Twelve requests, every commit durable.
//!
//! The set-up, through the store before the clock starts: items with a base price list and a
//! quantity break, a group discount, a group with a maximum discount, customers of that group
//! with a credit limit far above what the run can owe, and stock for every item.
//!
//! At the end the result is checked and a wrong one fails the run: every order line delivered,
//! every delivery line invoiced, every invoice total equal to its order's and fully paid, no
//! exposure left on any bench customer, nothing reserved for the bench items, one stock move
//! per delivered line, and the ledger invariants.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context, anyhow, bail};
use papilio_core::document::{DocAction, DocState};
use papilio_core::entities;
use papilio_core::schema::{self, EntityDef, RawInput};
use papilio_store::documents::{self, Actor, DocQuery, Draft, DraftLine};
use papilio_store::{Db, master, stock, stock_seed, stock_views};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::measure::{Latencies, Row, cpu_seconds, peak_rss_mib};
use crate::workloads::client;
use crate::{Bench, BenchOptions};

/// Lines per order.
pub const LINES: usize = 5;

/// Requests one chain makes.
pub const REQUESTS_PER_CHAIN: u64 = 12;

/// Stock received for each bench item before the run, far more than a run can ship.
const STOCK_PER_ITEM: i64 = 10_000_000;

/// The bench's master data: items (all with prices and stock) and customers.
#[derive(Debug, Clone)]
pub struct OrderToCash {
    items: Vec<String>,
    customers: Vec<String>,
    receipts_before: i64,
    moves_before: i64,
}

/// How a client moves each document from draft to approved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Steps {
    /// Three requests: create, submit, approve (twelve per chain).
    Separate,
    /// One request: create with `?then=approve`, one transaction (four per chain).
    SaveAndApprove,
}

/// One finished chain, as the client saw it.
#[derive(Debug, Clone)]
pub struct Chain {
    customer: String,
    order_id: i64,
    order_total: Decimal,
    invoice_id: i64,
    invoice_total: Decimal,
    paid: Decimal,
}

/// Latencies of the four stages of a chain (create, submit and approve each).
#[derive(Debug, Clone, Default)]
pub struct Stages {
    order: Latencies,
    delivery: Latencies,
    invoice: Latencies,
    receipt: Latencies,
}

impl Stages {
    fn merge(&mut self, other: &Stages) {
        self.order.merge(&other.order);
        self.delivery.merge(&other.delivery);
        self.invoice.merge(&other.invoice);
        self.receipt.merge(&other.receipt);
    }
}

async fn insert_rows(
    db: &Db,
    def: &'static EntityDef,
    rows: Vec<Vec<(&str, String)>>,
    user_id: i64,
) -> anyhow::Result<()> {
    let mut records = Vec::with_capacity(rows.len());
    for r in rows {
        let input: RawInput = r.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        let record = schema::validate(def, &input, false).map_err(|errors| {
            anyhow!(
                "bench {} row invalid: {}",
                def.kind,
                errors
                    .iter()
                    .map(|e| format!("{} {}", e.field, e.rule))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        records.push(record);
    }
    let records = &records;
    db.write(|conn, _| {
        Box::pin(async move {
            for r in records {
                master::insert(conn, def, r, user_id).await?;
            }
            Ok(())
        })
    })
    .await?;
    Ok(())
}

fn text(v: &Value, key: &str) -> anyhow::Result<String> {
    v[key].as_str().map(str::to_owned).with_context(|| format!("no {key} in {v}"))
}

fn decimal(v: &Value, key: &str) -> anyhow::Result<Decimal> {
    text(v, key)?.parse().with_context(|| format!("{key} is no decimal in {v}"))
}

impl OrderToCash {
    /// Seeds `items` items and `customers` customers through the store, with stock.
    pub async fn seed(bench: &Bench, items: usize, customers: usize) -> anyhow::Result<Self> {
        let db = &bench.db;
        let user = bench.user_id;
        let codes: Vec<String> = (1..=items).map(|i| format!("W1-{i:05}")).collect();
        let item_rows = codes
            .iter()
            .enumerate()
            .map(|(i, code)| {
                vec![
                    ("code", code.clone()),
                    ("name_zh", format!("基准风扇{i}")),
                    ("name_en", format!("Bench fan {i}")),
                    ("category", "FG".to_owned()),
                    ("item_type", "manufactured".to_owned()),
                    ("base_unit", "PCS".to_owned()),
                    ("standard_cost", format!("{}", 40 + i % 30)),
                    ("default_warehouse", "FG".to_owned()),
                    ("floor_price", "30".to_owned()),
                ]
            })
            .collect();
        insert_rows(db, &entities::ITEM, item_rows, user).await?;
        let mut prices = Vec::new();
        for (i, code) in codes.iter().enumerate() {
            let list = 100 + i % 50;
            prices.push(vec![
                ("code", format!("{code}-L")),
                ("item", code.clone()),
                ("currency", "CNY".to_owned()),
                ("price", list.to_string()),
            ]);
            prices.push(vec![
                ("code", format!("{code}-B")),
                ("item", code.clone()),
                ("currency", "CNY".to_owned()),
                ("min_qty", "8".to_owned()),
                ("price", (list - 5).to_string()),
            ]);
        }
        insert_rows(db, &entities::SALES_PRICE, prices, user).await?;
        let group = vec![vec![
            ("code", "W1".to_owned()),
            ("name_zh", "基准客户".to_owned()),
            ("name_en", "Bench customers".to_owned()),
            ("credit_limit", "1000000000".to_owned()),
            ("max_discount_pct", "5".to_owned()),
        ]];
        insert_rows(db, &entities::CUSTOMER_GROUP, group, user).await?;
        let policy = vec![vec![
            ("code", "W1-GROUP3".to_owned()),
            ("name_zh", "基准客户折扣".to_owned()),
            ("name_en", "Bench group discount".to_owned()),
            ("basis", "customer_group".to_owned()),
            ("customer_group", "W1".to_owned()),
            ("percent", "3".to_owned()),
        ]];
        insert_rows(db, &entities::DISCOUNT_POLICY, policy, user).await?;
        let customer_codes: Vec<String> = (1..=customers).map(|i| format!("W1C{i:05}")).collect();
        let customer_rows = customer_codes
            .iter()
            .map(|code| {
                vec![
                    ("code", code.clone()),
                    ("name_zh", format!("基准客户{code}")),
                    ("name_en", format!("Bench customer {code}")),
                    ("customer_group", "W1".to_owned()),
                    ("currency", "CNY".to_owned()),
                    ("payment_term", "NET30".to_owned()),
                    ("credit_limit", "1000000000".to_owned()),
                    ("salesperson", "E007".to_owned()),
                ]
            })
            .collect();
        insert_rows(db, &entities::CUSTOMER, customer_rows, user).await?;

        // Stock: one purchase receipt per 50 items, posted like any other.
        let types = papilio_store::document_types();
        let receipt =
            types.iter().find(|t| t.code == "purchase_receipt").context("purchase receipt type")?;
        let actor = Actor { user_id: user, roles: vec!["administrator".into()] };
        let today = chrono::Utc::now().date_naive();
        for chunk in codes.chunks(50) {
            let lines = chunk
                .iter()
                .map(|code| DraftLine {
                    item: Some(code.clone()),
                    quantity: Decimal::from(STOCK_PER_ITEM),
                    unit: Some("PCS".into()),
                    unit_price: Some(Decimal::from(45)),
                    warehouse: Some("FG".into()),
                    ..DraftLine::default()
                })
                .collect();
            let draft = Draft {
                doc_date: Some(today),
                partner: Some("S001".into()),
                lines,
                ..Draft::default()
            };
            let doc = documents::create(db, receipt, &draft, &actor).await?;
            let doc = documents::transition(
                db,
                receipt,
                doc.id,
                doc.version,
                DocAction::Submit,
                &actor,
                None,
            )
            .await?;
            documents::transition(
                db,
                receipt,
                doc.id,
                doc.version,
                DocAction::Approve,
                &actor,
                None,
            )
            .await?;
        }
        let q = DocQuery { page: 1, per_page: 1, ..DocQuery::default() };
        Ok(OrderToCash {
            items: codes,
            customers: customer_codes,
            receipts_before: documents::list(db, "customer_receipt", &q).await?.total,
            moves_before: stock_seed::move_count(db).await?,
        })
    }

    /// Runs one chain over HTTP as `http` against `base`: order, delivery, invoice, receipt.
    pub async fn run_one(
        &self,
        http: &reqwest::Client,
        base: &str,
        steps: Steps,
        rng: &mut StdRng,
        stages: &mut Stages,
    ) -> anyhow::Result<Chain> {
        let today = chrono::Utc::now().date_naive().to_string();
        let customer = self.customers.choose(rng).context("no bench customers")?.clone();
        let picked: Vec<&String> = self.items.choose_multiple(rng, LINES).collect();
        let lines: Vec<Value> = picked
            .iter()
            .map(|item| json!({"item": item, "quantity": rng.random_range(1..=9).to_string(), "unit": "PCS"}))
            .collect();

        let t = Instant::now();
        let body = json!({"doc_date": today, "partner": customer, "lines": lines});
        let order = post_through(http, base, steps, "sales_order", &body).await?;
        stages.order.record(t.elapsed());

        let t = Instant::now();
        let body = json!({"doc_date": today, "partner": customer, "lines": pushed(&order)?});
        let delivery = post_through(http, base, steps, "sales_delivery", &body).await?;
        stages.delivery.record(t.elapsed());

        let t = Instant::now();
        let body = json!({"doc_date": today, "partner": customer, "lines": pushed(&delivery)?});
        let invoice = post_through(http, base, steps, "sales_invoice", &body).await?;
        stages.invoice.record(t.elapsed());

        let t = Instant::now();
        let total = text(&invoice, "total")?;
        let body = json!({"doc_date": today, "partner": customer, "lines": [
            {"settles": text(&invoice, "id")?, "quantity": "1", "unit_price": total},
        ]});
        let receipt = post_through(http, base, steps, "customer_receipt", &body).await?;
        stages.receipt.record(t.elapsed());

        Ok(Chain {
            customer,
            order_id: text(&order, "id")?.parse()?,
            order_total: decimal(&order, "total")?,
            invoice_id: text(&invoice, "id")?.parse()?,
            invoice_total: decimal(&invoice, "total")?,
            paid: decimal(&receipt, "total")?,
        })
    }

    /// Checks what the chains left behind; answers a one-line summary or fails naming the
    /// first thing wrong.
    pub async fn check(&self, db: &Db, chains: &[Chain]) -> anyhow::Result<String> {
        let mut problems = Vec::new();
        for c in chains {
            if c.order_total != c.invoice_total || c.invoice_total != c.paid {
                problems.push(format!(
                    "order {}: total {}, invoiced {}, paid {}",
                    c.order_id, c.order_total, c.invoice_total, c.paid
                ));
            }
            let order = documents::get(db, c.order_id).await?;
            let invoice = documents::get(db, c.invoice_id).await?;
            if order.lines.len() != LINES
                || order.lines.iter().any(|l| l.carried_qty != l.quantity)
                || order.state != DocState::Approved
            {
                problems.push(format!("order {} not delivered in full", order.number));
            }
            if order.total() != invoice.total() || invoice.state != DocState::Approved {
                problems.push(format!(
                    "order {} totals {} but invoice {} totals {}",
                    order.number,
                    order.total(),
                    invoice.number,
                    invoice.total()
                ));
            }
            for source in invoice.lines.iter().filter_map(|l| l.source_line_id) {
                let (_, delivered) = documents::line(db, source).await?;
                if delivered.carried_qty != delivered.quantity {
                    problems.push(format!("delivery line {source} not invoiced in full"));
                }
            }
        }
        let used: BTreeSet<&str> = chains.iter().map(|c| c.customer.as_str()).collect();
        let mut conn = db.pool().acquire().await?;
        for customer in &self.customers {
            let e = papilio_store::sales::exposure(&mut conn, customer).await?;
            if !e.total().is_zero() {
                problems.push(format!("{customer} still owes or awaits {e:?}"));
            }
        }
        drop(conn);
        let held: Vec<_> = stock_views::reservations(db, None, None)
            .await?
            .into_iter()
            .filter(|r| r.item.starts_with("W1-"))
            .collect();
        if let Some(r) = held.first() {
            problems.push(format!("{} bench items still reserved, first {r:?}", held.len()));
        }
        let q = DocQuery { page: 1, per_page: 1, ..DocQuery::default() };
        let receipts = documents::list(db, "customer_receipt", &q).await?.total;
        let n = i64::try_from(chains.len())?;
        if receipts - self.receipts_before != n {
            problems.push(format!("{n} chains but {} receipts", receipts - self.receipts_before));
        }
        let moves = stock_seed::move_count(db).await? - self.moves_before;
        let lines = n * i64::try_from(LINES)?;
        if moves != lines {
            problems.push(format!("{lines} lines delivered but the ledger gained {moves} moves"));
        }
        problems.extend(stock::check_invariants(db).await?);
        if let Some(first) = problems.first() {
            bail!("order to cash check failed ({} problems), first: {first}", problems.len());
        }
        Ok(format!(
            "ok: {n} orders over {} customers delivered, invoiced and paid in full; \
             {moves} moves = lines; no exposure, nothing reserved, invariants hold",
            used.len()
        ))
    }
}

/// Creates a document, submits and approves it; answers the approved document.
async fn post_through(
    http: &reqwest::Client,
    base: &str,
    steps: Steps,
    doc_type: &str,
    body: &Value,
) -> anyhow::Result<Value> {
    let url = format!("{base}/api/v1/documents/{doc_type}");
    let create = match steps {
        Steps::Separate => url.clone(),
        Steps::SaveAndApprove => format!("{url}?then=approve"),
    };
    let resp = http.post(&create).json(body).send().await?;
    if !resp.status().is_success() {
        bail!("create {doc_type} answered {}: {}", resp.status(), resp.text().await?);
    }
    let mut doc: Value = resp.json().await?;
    let id = text(&doc, "id")?;
    if steps == Steps::SaveAndApprove {
        if doc["state"] != "approved" {
            bail!("{doc_type} {id} saved but not approved: {}", doc["state"]);
        }
        return Ok(doc);
    }
    for action in ["submit", "approve"] {
        let resp = http
            .post(format!("{url}/{id}/{action}"))
            .json(&json!({"version": doc["version"]}))
            .send()
            .await?;
        if !resp.status().is_success() {
            bail!("{action} {doc_type} answered {}: {}", resp.status(), resp.text().await?);
        }
        doc = resp.json().await?;
    }
    Ok(doc)
}

/// Lines pushing down every line of `doc` in full.
fn pushed(doc: &Value) -> anyhow::Result<Vec<Value>> {
    doc["lines"]
        .as_array()
        .context("document without lines")?
        .iter()
        .map(|l| Ok(json!({"source_line_id": text(l, "id")?, "quantity": text(l, "quantity")?})))
        .collect()
}

/// How many items and customers a run seeds.
pub fn sizes(options: &BenchOptions) -> (usize, usize) {
    if options.smoke { (20, 10) } else { (200, 100) }
}

/// W1: order to cash from `concurrency` clients until the deadline or the order budget
/// (`requests` / 12 chains) runs out. With [`Steps::SaveAndApprove`] (workload `W1-then`)
/// each document is created and approved in one request.
pub async fn w1(options: &BenchOptions, steps: Steps) -> anyhow::Result<Vec<Row>> {
    let bench = Bench::start(options).await?;
    let (items, customers) = sizes(options);
    let o2c = Arc::new(OrderToCash::seed(&bench, items, customers).await?);
    let http = client(&bench.token)?;
    let clients = options.concurrency.max(1);
    let budget = Arc::new(AtomicU64::new(
        (options.requests / REQUESTS_PER_CHAIN).max(u64::try_from(clients)?),
    ));
    let deadline = Instant::now() + options.duration;
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (http, base, budget, o2c) =
            (http.clone(), bench.base.clone(), budget.clone(), o2c.clone());
        let mut rng = StdRng::seed_from_u64(options.seed.wrapping_add(c as u64));
        tasks.push(tokio::spawn(async move {
            let mut whole = Latencies::default();
            let mut stages = Stages::default();
            let mut chains = Vec::new();
            while Instant::now() < deadline
                && budget
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| b.checked_sub(1))
                    .is_ok()
            {
                let t = Instant::now();
                chains.push(o2c.run_one(&http, &base, steps, &mut rng, &mut stages).await?);
                whole.record(t.elapsed());
            }
            anyhow::Ok((whole, stages, chains))
        }));
    }
    let mut whole = Latencies::default();
    let mut stages = Stages::default();
    let mut chains = Vec::new();
    let mut failure = None;
    for task in tasks {
        match task.await? {
            Ok((w, s, c)) => {
                whole.merge(&w);
                stages.merge(&s);
                chains.extend(c);
            }
            Err(e) => failure = failure.or(Some(e)),
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;
    let checked = match failure {
        Some(e) => Err(e.context("an order-to-cash client failed")),
        None => o2c.check(&bench.db, &chains).await,
    };
    bench.finish().await;
    let check = checked?;

    let rss = peak_rss_mib();
    let name = match steps {
        Steps::Separate => "W1",
        Steps::SaveAndApprove => "W1-then",
    };
    let mk = |op: &str, lat: Latencies, units: u64, check: String| Row {
        workload: name.into(),
        op: op.into(),
        ops: lat.count(),
        units_per_op: units,
        seconds,
        cpu_seconds: cpu,
        latencies: lat,
        peak_rss_mib: rss,
        check,
    };
    let lines = u64::try_from(LINES)?;
    let stage_note = "stage of the same chains; rate is lines over the whole run".to_owned();
    Ok(vec![
        mk("chain", whole, lines, format!("{check}; rates are fully processed order lines")),
        mk("order", stages.order, lines, stage_note.clone()),
        mk("delivery", stages.delivery, lines, stage_note.clone()),
        mk("invoice", stages.invoice, lines, stage_note.clone()),
        mk("receipt", stages.receipt, lines, stage_note),
    ])
}
