//! The stock bench workloads run at smoke size through the harness and pass their own
//! functional checks, on SQLite or (with `PAPILIO_TEST_POSTGRES`) PostgreSQL.

use std::time::Duration;

use papilio_bench::BenchOptions;

use crate::support;

fn smoke(workload: &str) -> BenchOptions {
    BenchOptions {
        workloads: vec![workload.to_owned()],
        postgres: support::postgres_base(),
        concurrency: 3,
        duration: Duration::from_secs(30),
        requests: 80,
        scale: 1,
        seed: 7,
        smoke: true,
        ledger_rows: Some(5_000),
    }
}

#[tokio::test]
async fn stock_post_smoke_posts_every_line_once() {
    let report = papilio_bench::run(&smoke("stock-post")).await.unwrap();
    let ops: Vec<&str> = report.rows.iter().map(|r| r.op.as_str()).collect();
    assert_eq!(ops, ["single", "concurrent"]);
    for row in &report.rows {
        assert_eq!(row.ops, 10, "{}", row.op);
        assert_eq!(row.units_per_op, 5);
        assert!(row.check.starts_with("ok"), "{}", row.check);
    }
}

#[tokio::test]
async fn w4_smoke_balances_match_the_ledger() {
    let report = papilio_bench::run(&smoke("W4")).await.unwrap();
    let ops: Vec<&str> = report.rows.iter().map(|r| r.op.as_str()).collect();
    assert_eq!(ops, ["seed", "now", "as-of", "item"]);
    let seed = &report.rows[0];
    assert_eq!(seed.units_per_op, 5_000);
    // 50 items in 4 warehouses, plus the demo company's own balances.
    assert!(report.rows[1].units_per_op >= 200, "{}", report.rows[1].units_per_op);
    assert!(seed.check.starts_with("ok"), "{}", seed.check);
}
