//! The workloads. Each builds its own fresh database through [`Bench::start`], drives it over
//! HTTP and checks its functional result before it reports.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context, bail};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::measure::{Latencies, Row, cpu_seconds, peak_rss_mib};
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

/// Mixed API load: 80% reads, 20% durable writes, from `concurrency` clients.
pub async fn api_mix(options: &BenchOptions) -> anyhow::Result<Vec<Row>> {
    let bench = Bench::start(options).await?;
    let http = client(&bench.token)?;
    let items = ids(&http, &bench.base, "item", 500).await?;
    let customers = ids(&http, &bench.base, "customer", 200).await?;
    if items.len() < options.concurrency + 1 || customers.is_empty() {
        bail!("the demo has too few items for {} clients", options.concurrency);
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
        let (items, customers, budget) = (items.clone(), customers.clone(), budget.clone());
        let seed = options.seed.wrapping_add(c as u64);
        tasks.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut reads = Latencies::default();
            let mut writes = Latencies::default();
            let mut failures = Vec::new();
            // Each client owns one item for its writes, so versions never collide.
            let (own_id, mut own_version) = items.get(c).cloned().unwrap_or_default();
            let mut written = 0u64;
            while Instant::now() < deadline
                && budget
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| b.checked_sub(1))
                    .is_ok()
            {
                let roll = rng.random_range(0..100);
                let t = Instant::now();
                let result = if roll < 20 {
                    let cost =
                        format!("{}.{:02}", rng.random_range(1..500), rng.random_range(0..100));
                    let body = json!({"version": own_version, "standard_cost": cost});
                    let r =
                        http.patch(format!("{base}/api/v1/item/{own_id}")).json(&body).send().await;
                    if let Ok(resp) = &r
                        && resp.status().is_success()
                    {
                        own_version += 1;
                        written += 1;
                    }
                    writes.record(t.elapsed());
                    r
                } else {
                    let url = match roll % 3 {
                        0 => format!(
                            "{base}/api/v1/item/{}",
                            items[rng.random_range(0..items.len())].0
                        ),
                        1 => format!(
                            "{base}/api/v1/item?per_page=40&page={}",
                            rng.random_range(1..5)
                        ),
                        _ => format!(
                            "{base}/api/v1/customer/{}",
                            customers[rng.random_range(0..customers.len())].0
                        ),
                    };
                    let r = http.get(url).send().await;
                    if let Ok(resp) = r {
                        let status = resp.status();
                        let _ = resp.bytes().await;
                        reads.record(t.elapsed());
                        if !status.is_success() {
                            failures.push(format!("read answered {status}"));
                        }
                        continue;
                    }
                    r
                };
                match result {
                    Ok(resp) if !resp.status().is_success() => {
                        failures.push(format!("write answered {}", resp.status()))
                    }
                    Err(e) => failures.push(e.to_string()),
                    Ok(_) => {}
                }
            }
            (reads, writes, failures, own_id, own_version, written)
        }));
    }

    let mut reads = Latencies::default();
    let mut writes = Latencies::default();
    let mut failures = Vec::new();
    let mut expected = Vec::new();
    for task in tasks {
        let (r, w, f, id, version, written) = task.await?;
        reads.merge(&r);
        writes.merge(&w);
        failures.extend(f);
        expected.push((id, version, written));
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;

    // Functional check: every successful write moved its item's version by exactly one.
    for (id, version, written) in &expected {
        let row: Value =
            http.get(format!("{}/api/v1/item/{id}", bench.base)).send().await?.json().await?;
        if row["version"].as_i64() != Some(*version) || *version != 1 + i64::try_from(*written)? {
            bail!(
                "item {id}: version {} after {written} writes, expected {version}",
                row["version"]
            );
        }
    }
    if let Some(first) = failures.first() {
        bail!("{} requests failed, first: {first}", failures.len());
    }
    let check =
        format!("ok: {} writes, versions consistent", expected.iter().map(|e| e.2).sum::<u64>());
    bench.finish().await;

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
