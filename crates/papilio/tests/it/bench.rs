//! The bench workloads run at smoke size through the harness and pass their own
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

#[tokio::test]
async fn w1_smoke_orders_are_delivered_invoiced_and_paid() {
    let report = papilio_bench::run(&smoke("W1")).await.unwrap();
    let ops: Vec<&str> = report.rows.iter().map(|r| r.op.as_str()).collect();
    assert_eq!(ops, ["chain", "order", "delivery", "invoice", "receipt"]);
    let chain = &report.rows[0];
    // 80 requests make 6 chains of 12.
    assert_eq!(chain.ops, 6);
    assert_eq!(chain.units_per_op, 5);
    assert!(chain.check.starts_with("ok"), "{}", chain.check);
    assert!(report.rows.iter().all(|r| r.ops == chain.ops));
}

#[tokio::test]
async fn engineering_smoke_explodes_and_rolls_up_a_checked_structure() {
    let report = papilio_bench::run(&smoke("engineering")).await.unwrap();
    let ops: Vec<&str> = report.rows.iter().map(|r| r.op.as_str()).collect();
    assert_eq!(ops, ["seed", "explode", "roll-up"]);
    assert_eq!(report.rows[0].units_per_op, 2_000);
    // Four top items of nine levels below them, three lines a bill: 29,523 rows each.
    assert_eq!(report.rows[1].units_per_op, 4 * 29_523);
    assert!(report.rows[2].units_per_op >= 2_000, "{}", report.rows[2].units_per_op);
    assert!(report.rows.iter().all(|r| r.check.starts_with("ok")), "{}", report.rows[0].check);
}
