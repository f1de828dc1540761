//! Stock workloads: `stock-post` (posting stock documents over HTTP) and `W4` (reading
//! balances from a large ledger).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{Days, Months, NaiveDate};
use papilio_store::stock::{self, BalanceFilter};
use papilio_store::stock_seed::{self, LedgerSpec};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::measure::{Latencies, Row, cpu_seconds, peak_rss_mib};
use crate::workloads::client;
use crate::{Bench, BenchOptions};

/// Purchased parts the posting clients receive and issue (not lot tracked, in RM).
const PARTS: &[(&str, &str, &str)] = &[
    ("BRG-608", "PCS", "1.35"),
    ("SHAFT-8", "PCS", "2.20"),
    ("SCREW-M4", "PCS", "0.03"),
    ("SWITCH-4", "PCS", "3.40"),
    ("CORD-2M", "PCS", "4.70"),
    ("STEEL-WIRE", "KG", "6.90"),
    ("CARTON-F16", "PCS", "3.80"),
    ("MANUAL", "PCS", "0.45"),
];

/// Lines per posted document.
const LINES: u64 = 5;

/// Creates, submits and approves one document; an error names the step that failed.
async fn post_one(
    http: &reqwest::Client,
    base: &str,
    doc_type: &str,
    body: &Value,
) -> anyhow::Result<()> {
    let url = format!("{base}/api/v1/documents/{doc_type}");
    let resp = http.post(&url).json(body).send().await?;
    if !resp.status().is_success() {
        bail!("create {doc_type} answered {}: {}", resp.status(), resp.text().await?);
    }
    let doc: Value = resp.json().await?;
    let id = doc["id"].as_str().context("document id")?.to_owned();
    let mut version = doc["version"].clone();
    for action in ["submit", "approve"] {
        let resp = http
            .post(format!("{url}/{id}/{action}"))
            .json(&json!({"version": version}))
            .send()
            .await?;
        if !resp.status().is_success() {
            bail!("{action} {doc_type} answered {}: {}", resp.status(), resp.text().await?);
        }
        let doc: Value = resp.json().await?;
        version = doc["version"].clone();
    }
    Ok(())
}

/// The body of a client's `n`th document: receipts of 10 and issues of 4 alternate, over
/// five consecutive parts starting at `start`, so a client never issues what it has not
/// received and the stock it adds never goes below zero.
fn body(n: u64, start: usize, date: &str) -> (&'static str, Value) {
    let receipt = n.is_multiple_of(2);
    let lines: Vec<Value> = (0..LINES)
        .filter_map(|i| PARTS.get((start + usize::try_from(i).unwrap_or(0)) % PARTS.len()))
        .map(|(item, unit, price)| {
            if receipt {
                json!({"item": item, "quantity": "10", "unit": unit, "unit_price": price,
                       "warehouse": "RM"})
            } else {
                json!({"item": item, "quantity": "4", "unit": unit, "warehouse": "RM"})
            }
        })
        .collect();
    if receipt {
        ("purchase_receipt", json!({"doc_date": date, "partner": "S001", "lines": lines}))
    } else {
        ("production_issue", json!({"doc_date": date, "lines": lines}))
    }
}

/// One measured phase: `clients` clients post documents until `budget` or the deadline.
struct Phase {
    latencies: Latencies,
    docs: u64,
    seconds: f64,
    cpu: f64,
}

async fn phase(bench: &Bench, options: &BenchOptions, clients: usize) -> anyhow::Result<Phase> {
    let http = client(&bench.token)?;
    let budget = Arc::new(AtomicU64::new((options.requests / 8).max(2)));
    let deadline = Instant::now() + options.duration;
    let date = chrono::Utc::now().date_naive().to_string();
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (http, base, budget, date) =
            (http.clone(), bench.base.clone(), budget.clone(), date.clone());
        let mut rng = StdRng::seed_from_u64(options.seed.wrapping_add(c as u64));
        tasks.push(tokio::spawn(async move {
            let mut lat = Latencies::default();
            let mut start = 0;
            let mut n = 0u64;
            while Instant::now() < deadline
                && budget
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| b.checked_sub(1))
                    .is_ok()
            {
                if n.is_multiple_of(2) {
                    start = rng.random_range(0..PARTS.len());
                }
                let (doc_type, body) = body(n, start, &date);
                let t = Instant::now();
                post_one(&http, &base, doc_type, &body).await?;
                lat.record(t.elapsed());
                n += 1;
            }
            // An unmatched receipt at the end is fine: it only adds stock.
            anyhow::Ok((lat, n))
        }));
    }
    let mut latencies = Latencies::default();
    let mut docs = 0;
    for task in tasks {
        let (lat, n) = task.await??;
        latencies.merge(&lat);
        docs += n;
    }
    Ok(Phase {
        latencies,
        docs,
        seconds: started.elapsed().as_secs_f64(),
        cpu: cpu_seconds() - cpu_before,
    })
}

/// Posting 5-line stock documents (create, submit, approve) over HTTP with one client, then
/// with `concurrency` clients, each commit durable. Checks that the ledger invariants hold and
/// that exactly one move was written per line posted.
pub async fn stock_post(options: &BenchOptions) -> anyhow::Result<Vec<Row>> {
    let bench = Bench::start(options).await?;
    let before = stock_seed::move_count(&bench.db).await?;
    let single = phase(&bench, options, 1).await?;
    let concurrent = phase(&bench, options, options.concurrency.max(1)).await?;
    let moves = stock_seed::move_count(&bench.db).await? - before;
    let lines = (single.docs + concurrent.docs) * LINES;
    let problems = stock::check_invariants(&bench.db).await?;
    bench.finish().await;
    if let Some(first) = problems.first() {
        bail!("stock-post broke {} ledger invariants, first: {first}", problems.len());
    }
    if u64::try_from(moves)? != lines {
        bail!("stock-post posted {lines} lines but the ledger gained {moves} moves");
    }
    let rss = peak_rss_mib();
    let mk = |op: &str, p: Phase| {
        let docs_rate = if p.seconds > 0.0 { p.docs as f64 / p.seconds } else { 0.0 };
        let docs_cpu = if p.cpu > 0.0 { p.docs as f64 / p.cpu } else { 0.0 };
        Row {
            workload: "stock-post".into(),
            op: op.into(),
            ops: p.docs,
            units_per_op: LINES,
            seconds: p.seconds,
            cpu_seconds: p.cpu,
            latencies: p.latencies,
            peak_rss_mib: rss,
            check: format!(
                "ok: rates are lines; {docs_rate:.1} docs/s, {docs_cpu:.1} docs/cpu-s; \
                 {moves} moves = {lines} lines, invariants hold"
            ),
        }
    };
    Ok(vec![mk("single", single), mk("concurrent", concurrent)])
}

/// Runs `query` up to `reps` times or until `budget` has passed; answers the latencies, the
/// rows of the last answer, and the time spent.
async fn repeat<F, Fut>(
    reps: u32,
    budget: Duration,
    mut query: F,
) -> anyhow::Result<(Latencies, u64, f64, f64)>
where
    F: FnMut(u32) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<usize>>,
{
    let mut lat = Latencies::default();
    let mut rows = 0;
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    for i in 0..reps.max(1) {
        let t = Instant::now();
        rows = u64::try_from(query(i).await?)?;
        lat.record(t.elapsed());
        if started.elapsed() > budget {
            break;
        }
    }
    Ok((lat, rows, started.elapsed().as_secs_f64(), cpu_seconds() - cpu_before))
}

/// W4: stock balances over a large ledger. Seeds `ledger_rows` moves (default 1,000,000, or
/// 20,000 for a smoke run) over up to 10,000 items and the four demo warehouses with batched
/// inserts, then measures, through the store: all balances now (the balance table), every
/// balance as of a past date (a sum over the ledger), and one item as of a date (the
/// item-and-date index). Checks that the balances now equal the ledger sums.
pub async fn w4(options: &BenchOptions) -> anyhow::Result<Vec<Row>> {
    let bench = Bench::start(options).await?;
    let rows = options.ledger_rows.unwrap_or(if options.smoke { 20_000 } else { 1_000_000 });
    let items = u32::try_from((rows / 100).clamp(20, 10_000))?;
    let from = papilio_demo::history::ANCHOR
        .checked_sub_months(Months::new(12))
        .context("ledger start")?;
    let spec = LedgerSpec {
        rows,
        items,
        warehouses: ["RM", "WIP", "FG", "SUBC"].iter().map(|w| (*w).to_owned()).collect(),
        from,
        days: 364,
        seed: options.seed,
        user_id: bench.user_id,
    };
    let before = stock_seed::move_count(&bench.db).await?;
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let seeded = stock_seed::seed_ledger(&bench.db, &spec, &|n| {
        tracing::debug!(moves = n, "seeding ledger");
    })
    .await?;
    let seed_seconds = started.elapsed().as_secs_f64();
    let seed_cpu = cpu_seconds() - cpu_before;
    let mut seed_lat = Latencies::default();
    seed_lat.record(started.elapsed());

    let (reps_now, reps_asof, reps_item) = if options.smoke { (10, 3, 50) } else { (30, 10, 500) };
    let slice = options.duration / 3;
    let db = &bench.db;
    let all = BalanceFilter::default();
    let (now_lat, now_rows, now_s, now_cpu) =
        repeat(reps_now, slice, |_| async { Ok(stock::balances(db, &all).await?.len()) }).await?;
    let past = from.checked_add_days(Days::new(182)).context("past date")?;
    let (asof_lat, asof_rows, asof_s, asof_cpu) = repeat(reps_asof, slice, |_| async {
        Ok(stock::balances_as_of(db, past, &all).await?.len())
    })
    .await?;
    let mut rng = StdRng::seed_from_u64(options.seed);
    let picks: Vec<(String, NaiveDate)> = (0..reps_item)
        .map(|_| {
            let item = seeded.items.get(rng.random_range(0..seeded.items.len())).cloned();
            let day = from.checked_add_days(Days::new(rng.random_range(0..364))).unwrap_or(from);
            (item.unwrap_or_default(), day)
        })
        .collect();
    let picks = &picks;
    let (item_lat, item_rows, item_s, item_cpu) = repeat(reps_item, slice, |i| async move {
        let (item, day) = picks.get(usize::try_from(i)?).cloned().unwrap_or_default();
        let f = BalanceFilter { item: Some(item), ..BalanceFilter::default() };
        Ok(stock::balances_as_of(db, day, &f).await?.len())
    })
    .await?;

    // Check: the maintained balances equal the ledger summed to its last day.
    let key =
        |b: &stock::Balance| (b.item.clone(), b.warehouse.clone(), b.bin.clone(), b.lot.clone());
    let now: BTreeMap<_, _> = stock::balances(db, &all)
        .await?
        .iter()
        .filter(|b| !b.qty.is_zero())
        .map(|b| (key(b), b.qty))
        .collect();
    let end = seeded.to.max(chrono::Utc::now().date_naive());
    let summed: BTreeMap<_, _> = stock::balances_as_of(db, end, &all)
        .await?
        .iter()
        .filter(|b| !b.qty.is_zero())
        .map(|b| (key(b), b.qty))
        .collect();
    let moved = stock_seed::move_count(db).await? - before;
    let mut problems = Vec::new();
    if now != summed {
        let wrong = now.iter().filter(|(k, q)| summed.get(*k) != Some(*q)).count();
        problems.push(format!("{wrong} balances differ from their ledger sums"));
    }
    if u64::try_from(moved)? != seeded.moves || seeded.moves != rows {
        problems.push(format!("asked for {rows} moves, seeded {}, found {moved}", seeded.moves));
    }
    if rows <= 200_000 {
        problems.extend(stock::check_invariants(db).await?);
    }
    bench.finish().await;
    if let Some(first) = problems.first() {
        bail!("W4 check failed ({} problems), first: {first}", problems.len());
    }
    let check = format!(
        "ok: {rows} moves over {items} items x 4 warehouses; balances = ledger sums{}",
        if rows <= 200_000 { ", invariants hold" } else { "" }
    );
    let rss = peak_rss_mib();
    let mk = |op: &str, lat: Latencies, units: u64, seconds: f64, cpu: f64| Row {
        workload: "W4".into(),
        op: op.into(),
        ops: lat.count(),
        units_per_op: units,
        seconds,
        cpu_seconds: cpu,
        latencies: lat,
        peak_rss_mib: rss,
        check: check.clone(),
    };
    Ok(vec![
        mk("seed", seed_lat, rows, seed_seconds, seed_cpu),
        mk("now", now_lat, now_rows, now_s, now_cpu),
        mk("as-of", asof_lat, asof_rows, asof_s, asof_cpu),
        mk("item", item_lat, item_rows.max(1), item_s, item_cpu),
    ])
}
