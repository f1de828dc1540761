//! The workloads. Each builds its own fresh database through [`Bench::start`], drives it over
//! HTTP and checks its functional result before it reports.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context, bail};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use crate::measure::{Latencies, Row, cpu_seconds, peak_rss_mib};
use crate::sales::{self, OrderToCash, Stages, Steps};
use crate::{Bench, BenchOptions};

/// An HTTP client that sends `token` as a bearer token.
pub(crate) fn client(token: &str) -> anyhow::Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {token}").parse()?);
    Ok(reqwest::Client::builder().default_headers(headers).pool_max_idle_per_host(64).build()?)
}

async fn ids(
    http: &reqwest::Client,
    base: &str,
    kind: &str,
    n: usize,
) -> anyhow::Result<Vec<(String, i64)>> {
    let page: Value =
        http.get(format!("{base}/api/v1/{kind}?per_page={n}")).send().await?.json().await?;
    let rows = page["data"].as_array().context("list answer")?;
    Ok(rows
        .iter()
        .filter_map(|r| Some((r["id"].as_str()?.to_owned(), r["version"].as_i64()?)))
        .collect())
}

/// W5 mixed API load from `concurrency` clients: 80% reads (an item by id, a list of 40, a
/// customer by id), 20% writes, each write one W1 order-to-cash chain (twelve requests, every
/// commit durable). Checks the chains as W1 does.
pub async fn api_mix(options: &BenchOptions) -> anyhow::Result<Vec<Row>> {
    let bench = Bench::start(options).await?;
    let (n_items, n_customers) = sales::sizes(options);
    let o2c = Arc::new(OrderToCash::seed(&bench, n_items, n_customers).await?);
    let http = client(&bench.token)?;
    let items = ids(&http, &bench.base, "item", 500).await?;
    let customers = ids(&http, &bench.base, "customer", 200).await?;
    if items.is_empty() || customers.is_empty() {
        bail!("the demo has no items or customers to read");
    }
    let items = Arc::new(items);
    let customers = Arc::new(customers);
    let budget = Arc::new(AtomicU64::new(options.requests));
    let deadline = Instant::now() + options.duration;
    let cpu_before = cpu_seconds();
    let started = Instant::now();

    let mut tasks = Vec::new();
    for c in 0..options.concurrency {
        let (http, base) = (http.clone(), bench.base.clone());
        let (items, customers, budget, o2c) =
            (items.clone(), customers.clone(), budget.clone(), o2c.clone());
        let seed = options.seed.wrapping_add(c as u64);
        tasks.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut reads = Latencies::default();
            let mut writes = Latencies::default();
            let mut stages = Stages::default();
            let mut chains = Vec::new();
            let mut failures = Vec::new();
            while Instant::now() < deadline
                && budget
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| b.checked_sub(1))
                    .is_ok()
            {
                let roll = rng.random_range(0..100);
                let t = Instant::now();
                if roll < 20 {
                    match o2c.run_one(&http, &base, Steps::Separate, &mut rng, &mut stages).await {
                        Ok(chain) => {
                            writes.record(t.elapsed());
                            chains.push(chain);
                        }
                        Err(e) => failures.push(format!("{e:#}")),
                    }
                    continue;
                }
                let url = match roll % 3 {
                    0 => {
                        format!("{base}/api/v1/item/{}", items[rng.random_range(0..items.len())].0)
                    }
                    1 => format!("{base}/api/v1/item?per_page=40&page={}", rng.random_range(1..5)),
                    _ => format!(
                        "{base}/api/v1/customer/{}",
                        customers[rng.random_range(0..customers.len())].0
                    ),
                };
                match http.get(url).send().await {
                    Ok(resp) => {
                        let status = resp.status();
                        let _ = resp.bytes().await;
                        reads.record(t.elapsed());
                        if !status.is_success() {
                            failures.push(format!("read answered {status}"));
                        }
                    }
                    Err(e) => failures.push(e.to_string()),
                }
            }
            (reads, writes, chains, failures)
        }));
    }

    let mut reads = Latencies::default();
    let mut writes = Latencies::default();
    let mut chains = Vec::new();
    let mut failures = Vec::new();
    for task in tasks {
        let (r, w, c, f) = task.await?;
        reads.merge(&r);
        writes.merge(&w);
        chains.extend(c);
        failures.extend(f);
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;

    let checked = match failures.first() {
        Some(first) => Err(anyhow::anyhow!("{} requests failed, first: {first}", failures.len())),
        None => o2c.check(&bench.db, &chains).await,
    };
    bench.finish().await;
    let check = format!("{}; a write is one order-to-cash chain (12 requests)", checked?);

    let mut all = reads.clone();
    all.merge(&writes);
    let rss = peak_rss_mib();
    let mk = |op: &str, lat: Latencies| Row {
        workload: "api-mix".into(),
        op: op.into(),
        ops: lat.count(),
        units_per_op: 1,
        seconds,
        cpu_seconds: cpu,
        latencies: lat,
        peak_rss_mib: rss,
        check: check.clone(),
    };
    Ok(vec![mk("all", all), mk("read", reads), mk("write", writes)])
}
