//! The engineering workload: a generated multi-level structure (100,000 items over 10 levels,
//! or 2,000 in a smoke run), the full explosion of its top items and the full standard cost
//! roll-up, read to written.
//!
//! The structure is deterministic. Level 0 holds the top items; each level holds up to three
//! times as many items as the one above, capped so the levels add up to the item count, so
//! the lower levels share components. Every item above the bottom level has a bill of three
//! lines to items of the next level (quantities 1 to 4; 5 % scrap on some lines of the two
//! lowest bills; some bottom lines counted in boxes of 12) and a routing of one or two
//! operations (the second done by a subcontractor for a fee). Bottom items are purchased at a
//! standard cost. Items, BOMs and routings are written in bulk (multi-row inserts).
//!
//! The check recomputes both answers independently from the generator's own description,
//! level by level (quantities top-down for the explosion, costs bottom-up for the roll-up),
//! and compares every leaf total of every explosion and every item's stored total with them.
//! A difference fails the run.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use anyhow::{Context, bail};
use papilio_core::bom::IssueMethod;
use papilio_core::entities;
use papilio_core::schema::{self, RawInput};
use papilio_core::value::round_to;
use papilio_store::documents::Actor;
use papilio_store::engineering::{self as eng, BomInput, BomLineInput, ImportAs};
use papilio_store::engineering::{RoutingInput, RoutingOperation};
use papilio_store::{bulk, master};
use rust_decimal::Decimal;

use crate::measure::{Latencies, Row, cpu_seconds, peak_rss_mib};
use crate::{Bench, BenchOptions};

/// Levels of the generated structure.
pub const LEVELS: usize = 10;

/// Lines per bill.
const FAN_OUT: usize = 3;

/// The box unit of some bottom lines, and how many pieces it holds.
const BOX: &str = "EBX12";
const PER_BOX: i64 = 12;

/// Work centres: code, labour, machine and overhead rates per hour.
const CENTRES: [(&str, i64, i64, i64); 4] = [
    ("EB-ASM", 3550, 1200, 800),
    ("EB-MCH", 4200, 6500, 1500),
    ("EB-PNT", 3000, 2000, 1000),
    ("EB-TST", 3800, 900, 700),
];

/// The subcontractor of second operations.
const SUPPLIER: &str = "EB-SUBCON";

/// Items per level: `tops` on level 0, then up to three times the level above, capped so
/// that the remaining levels can share what is left evenly.
pub fn level_sizes(items: usize, tops: usize, levels: usize) -> Vec<usize> {
    let mut sizes: Vec<usize> = Vec::with_capacity(levels);
    let mut left = items;
    for k in 0..levels {
        let n = if k + 1 == levels {
            left
        } else if k == 0 {
            tops.min(left)
        } else {
            let grown = sizes.last().copied().unwrap_or(1).saturating_mul(FAN_OUT);
            grown.min(left / (levels - k)).max(1)
        };
        sizes.push(n);
        left = left.saturating_sub(n);
    }
    sizes
}

/// One generated line.
#[derive(Debug, Clone)]
struct GenLine {
    component: usize,
    qty: Decimal,
    boxed: bool,
    scrap: Decimal,
}

impl GenLine {
    /// Base units of the component per parent, written out again.
    fn per_parent(&self) -> Decimal {
        let factor = if self.boxed { Decimal::from(PER_BOX) } else { Decimal::ONE };
        self.qty * factor * (Decimal::ONE + self.scrap / Decimal::ONE_HUNDRED)
    }
}

/// One generated operation.
#[derive(Debug, Clone)]
struct GenOp {
    seq: i64,
    centre: usize,
    setup: Decimal,
    run: Decimal,
    fee: Option<Decimal>,
}

/// The generated structure, described independently of storage.
struct Plan {
    sizes: Vec<usize>,
    /// Item code per (level, index).
    codes: Vec<Vec<String>>,
    /// Lines per (level, index), empty on the bottom level.
    lines: Vec<Vec<Vec<GenLine>>>,
    /// Operations per (level, index), empty on the bottom level.
    ops: Vec<Vec<Vec<GenOp>>>,
    /// Standard cost of bottom items.
    leaf_cost: Vec<Decimal>,
    lot_size: Decimal,
}

impl Plan {
    fn new(items: usize, tops: usize) -> Plan {
        let sizes = level_sizes(items, tops, LEVELS);
        let codes: Vec<Vec<String>> = sizes
            .iter()
            .enumerate()
            .map(|(k, n)| (0..*n).map(|j| format!("EB{k}-{j:06}")).collect())
            .collect();
        let mut lines = Vec::with_capacity(LEVELS);
        let mut ops = Vec::with_capacity(LEVELS);
        for (k, n) in sizes.iter().enumerate() {
            let below = sizes.get(k + 1).copied().unwrap_or(0);
            let mut level_lines = Vec::with_capacity(*n);
            let mut level_ops = Vec::with_capacity(*n);
            for j in 0..*n {
                if below == 0 {
                    level_lines.push(Vec::new());
                    level_ops.push(Vec::new());
                    continue;
                }
                let bill: Vec<GenLine> = (0..FAN_OUT)
                    .map(|t| {
                        let boxed = k + 2 == LEVELS && t == 1 && j % 2 == 0;
                        GenLine {
                            component: (FAN_OUT * j + t) % below,
                            qty: if boxed {
                                Decimal::new(25, 2)
                            } else {
                                Decimal::from(1 + (j + t) % 4)
                            },
                            boxed,
                            scrap: if k + 3 >= LEVELS && t == 2 {
                                Decimal::from(5)
                            } else {
                                Decimal::ZERO
                            },
                        }
                    })
                    .collect();
                let mut routing = vec![GenOp {
                    seq: 10,
                    centre: j % CENTRES.len(),
                    setup: Decimal::new(5, 1),
                    run: Decimal::new(2 * (1 + (j % 3) as i64), 2),
                    fee: None,
                }];
                if j % 5 == 0 {
                    routing.push(GenOp {
                        seq: 20,
                        centre: (j + 1) % CENTRES.len(),
                        setup: Decimal::ZERO,
                        run: Decimal::new(1, 1),
                        fee: Some(Decimal::new(125, 2)),
                    });
                }
                level_lines.push(bill);
                level_ops.push(routing);
            }
            lines.push(level_lines);
            ops.push(level_ops);
        }
        let bottom = sizes.last().copied().unwrap_or(0);
        let leaf_cost = (0..bottom).map(|j| Decimal::new(50 + (j % 97) as i64 * 13, 2)).collect();
        Plan { sizes, codes, lines, ops, leaf_cost, lot_size: Decimal::from(100) }
    }

    fn code(&self, level: usize, j: usize) -> &str {
        self.codes.get(level).and_then(|l| l.get(j)).map_or("", String::as_str)
    }

    /// Cost per unit of an operation, written out again: hours per unit at the work centre's
    /// three rates, or the fee of a subcontracted one.
    fn op_cost(&self, op: &GenOp) -> Decimal {
        match op.fee {
            Some(fee) => fee,
            None => {
                let (_, labour, machine, overhead) = CENTRES[op.centre % CENTRES.len()];
                let rates = Decimal::new(labour + machine + overhead, 2);
                (op.setup / self.lot_size + op.run) * rates
            }
        }
    }

    /// Every item's total standard cost, bottom-up level by level.
    fn expected_costs(&self) -> HashMap<String, Decimal> {
        let mut below: Vec<Decimal> = self.leaf_cost.clone();
        let mut out = HashMap::new();
        for (j, cost) in below.iter().enumerate() {
            out.insert(self.code(LEVELS - 1, j).to_owned(), *cost);
        }
        for k in (0..LEVELS - 1).rev() {
            let mut level = Vec::with_capacity(self.sizes[k]);
            for j in 0..self.sizes[k] {
                let material: Decimal =
                    self.lines[k][j].iter().map(|l| l.per_parent() * below[l.component]).sum();
                let conversion: Decimal = self.ops[k][j].iter().map(|o| self.op_cost(o)).sum();
                let total = material + conversion;
                out.insert(self.code(k, j).to_owned(), total);
                level.push(total);
            }
            below = level;
        }
        out.into_iter().map(|(k, v)| (k, round_to(v, 6))).collect()
    }

    /// The base units of each bottom item one unit of top item `top` needs, level by level.
    fn expected_leaves(&self, top: usize) -> BTreeMap<String, Decimal> {
        let mut qty: HashMap<usize, Decimal> = HashMap::from([(top, Decimal::ONE)]);
        for k in 0..LEVELS - 1 {
            let mut next: HashMap<usize, Decimal> = HashMap::new();
            for (j, q) in &qty {
                for l in &self.lines[k][*j] {
                    *next.entry(l.component).or_default() += *q * l.per_parent();
                }
            }
            qty = next;
        }
        qty.into_iter().map(|(j, q)| (self.code(LEVELS - 1, j).to_owned(), q)).collect()
    }

    /// Rows of one top item's explosion: one per path.
    fn rows_per_top(&self) -> usize {
        (1..LEVELS).map(|k| FAN_OUT.pow(u32::try_from(k).unwrap_or(0))).sum()
    }
}

fn raw(pairs: &[(&str, String)]) -> RawInput {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
}

/// Writes the master data, items, BOMs and routings of `plan`.
async fn seed(bench: &Bench, plan: &Plan, actor: &Actor) -> anyhow::Result<()> {
    let db = &bench.db;
    let mut masters: Vec<(&'static schema::EntityDef, RawInput)> = vec![
        (
            &entities::UNIT,
            raw(&[
                ("code", BOX.into()),
                ("name_zh", "箱(12)".into()),
                ("name_en", "Box of 12".into()),
            ]),
        ),
        (
            &entities::UNIT_CONVERSION,
            raw(&[
                ("from_unit", BOX.into()),
                ("to_unit", "PCS".into()),
                ("factor", PER_BOX.to_string()),
            ]),
        ),
        (
            &entities::SUPPLIER,
            raw(&[
                ("code", SUPPLIER.into()),
                ("name_zh", "外协厂".into()),
                ("name_en", "Subcontractor".into()),
                ("currency", "CNY".into()),
            ]),
        ),
    ];
    for (code, labour, machine, overhead) in CENTRES {
        masters.push((
            &entities::WORK_CENTRE,
            raw(&[
                ("code", code.into()),
                ("name_zh", code.into()),
                ("name_en", code.into()),
                ("capacity_hours", "8".into()),
                ("labour_rate", Decimal::new(labour, 2).to_string()),
                ("machine_rate", Decimal::new(machine, 2).to_string()),
                ("overhead_rate", Decimal::new(overhead, 2).to_string()),
            ]),
        ));
    }
    let mut items = Vec::new();
    for (k, size) in plan.sizes.iter().enumerate() {
        let bottom = k + 1 == LEVELS;
        for j in 0..*size {
            let code = plan.code(k, j).to_owned();
            let cost = if bottom { plan.leaf_cost[j] } else { Decimal::ZERO };
            let values = schema::validate(
                &entities::ITEM,
                &raw(&[
                    ("code", code.clone()),
                    ("name_zh", format!("物料 {code}")),
                    ("name_en", format!("Item {code}")),
                    ("item_type", if bottom { "purchased" } else { "manufactured" }.into()),
                    ("base_unit", "PCS".into()),
                    ("standard_cost", cost.to_string()),
                ]),
                false,
            )
            .map_err(|e| anyhow::anyhow!("generated item {code}: {e:?}"))?;
            items.push(values);
        }
    }
    let backend = db.backend();
    let (masters, items) = (&masters, &items);
    db.write(|conn, _| {
        Box::pin(async move {
            for (def, input) in masters {
                let values = schema::validate(def, input, false).map_err(|e| {
                    papilio_store::StoreError::Corrupt(format!("{}: {e:?}", def.kind))
                })?;
                master::insert(conn, def, &values, actor.user_id).await?;
            }
            let records: Vec<&schema::Record> = items.iter().collect();
            bulk::insert_records(conn, backend, &entities::ITEM, &records, &|_| {}).await?;
            Ok(())
        })
    })
    .await?;

    let mut boms = Vec::new();
    let mut routings = Vec::new();
    for k in 0..LEVELS - 1 {
        for j in 0..plan.sizes[k] {
            boms.push(BomInput {
                item: plan.code(k, j).to_owned(),
                version: "01".into(),
                customer: None,
                valid_from: None,
                valid_to: None,
                note: None,
                lines: plan.lines[k][j]
                    .iter()
                    .map(|l| BomLineInput {
                        component: plan.code(k + 1, l.component).to_owned(),
                        qty_per: l.qty,
                        unit: if l.boxed { BOX.into() } else { "PCS".into() },
                        scrap_pct: l.scrap,
                        operation_seq: Some(10),
                        issue_method: IssueMethod::Picked,
                        note: None,
                    })
                    .collect(),
            });
            routings.push(RoutingInput {
                item: plan.code(k, j).to_owned(),
                version: "R1".into(),
                valid_from: None,
                valid_to: None,
                lot_size: plan.lot_size,
                note: None,
                operations: plan.ops[k][j]
                    .iter()
                    .map(|o| RoutingOperation {
                        seq: o.seq,
                        work_centre: CENTRES[o.centre % CENTRES.len()].0.to_owned(),
                        description: None,
                        setup_hours: o.setup,
                        run_hours: o.run,
                        queue_hours: Decimal::ZERO,
                        move_hours: Decimal::ZERO,
                        subcontracted: o.fee.is_some(),
                        supplier: o.fee.map(|_| SUPPLIER.to_owned()),
                        subcontract_fee: o.fee,
                    })
                    .collect(),
            });
        }
    }
    eng::import_boms(db, &boms, actor, ImportAs::Approved).await.context("importing BOMs")?;
    eng::import_routings(db, &routings, actor, ImportAs::Approved)
        .await
        .context("importing routings")?;
    Ok(())
}

/// Makes the kernel forget this process's peak memory, so the next reading is the peak of
/// what runs in between (Linux; elsewhere the reading stays the process's lifetime peak).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The engineering workload: seed, explode every top item, roll up the whole structure.
pub async fn engineering(options: &BenchOptions) -> anyhow::Result<Vec<Row>> {
    let (items, tops) = if options.smoke { (2_000, 4) } else { (100_000, 10) };
    let bench = Bench::start(options).await?;
    let actor = Actor { user_id: bench.user_id, roles: vec!["administrator".into()] };
    let plan = Plan::new(items, tops);
    let today = chrono::Utc::now().date_naive();

    let cpu_before = cpu_seconds();
    let started = Instant::now();
    seed(&bench, &plan, &actor).await?;
    let seed_seconds = started.elapsed().as_secs_f64();
    let seed_cpu = cpu_seconds() - cpu_before;
    let mut seed_lat = Latencies::default();
    seed_lat.record(started.elapsed());
    let seed_rss = peak_rss_mib();

    // Explosion of every top item, the structure below them loaded once.
    let top_codes: Vec<String> = (0..tops).map(|j| plan.code(0, j).to_owned()).collect();
    let reps = if options.smoke { 1 } else { 3 };
    let mut explode_lat = Latencies::default();
    let mut explosions = Vec::new();
    reset_peak_rss();
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    for _ in 0..reps {
        let t = Instant::now();
        explosions = eng::explode_many(&bench.db, &top_codes, Decimal::ONE, today, None).await?;
        explode_lat.record(t.elapsed());
    }
    let explode_seconds = started.elapsed().as_secs_f64();
    let explode_cpu = cpu_seconds() - cpu_before;
    let explode_rss = peak_rss_mib();
    let exploded_rows: usize = explosions.iter().map(|e| e.rows.len()).sum();

    // The whole roll-up, read to written.
    let mut rollup_lat = Latencies::default();
    let mut times = Vec::new();
    reset_peak_rss();
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    for _ in 0..reps {
        let t = Instant::now();
        times.push(eng::roll_up_timed(&bench.db, today, &actor).await?);
        rollup_lat.record(t.elapsed());
    }
    let rollup_seconds = started.elapsed().as_secs_f64();
    let rollup_cpu = cpu_seconds() - cpu_before;
    let rollup_rss = peak_rss_mib();

    // Independent checks.
    let mut problems = Vec::new();
    for (j, explosion) in explosions.iter().enumerate() {
        if explosion.rows.len() != plan.rows_per_top() {
            problems.push(format!(
                "{}: {} explosion rows, expected {}",
                explosion.item,
                explosion.rows.len(),
                plan.rows_per_top()
            ));
        }
        let leaves = explosion.leaf_totals()?;
        let expected = plan.expected_leaves(j);
        if leaves != expected {
            let wrong = expected.iter().filter(|(k, q)| leaves.get(*k) != Some(*q)).count();
            problems.push(format!("{}: {wrong} leaf totals differ", explosion.item));
        }
    }
    let last = times.last().context("no roll-up ran")?;
    let stored = eng::run_totals(&bench.db, last.run_id).await?;
    let expected = plan.expected_costs();
    let mut wrong = 0usize;
    let mut first = None;
    for (code, cost) in &expected {
        if stored.get(code) != Some(cost) {
            wrong += 1;
            first.get_or_insert_with(|| {
                format!("{code}: stored {:?}, expected {cost}", stored.get(code))
            });
        }
    }
    if wrong > 0 {
        problems.push(format!(
            "{wrong} of {} rolled-up totals differ, first {}",
            expected.len(),
            first.unwrap_or_default()
        ));
    }
    if last.items < items {
        problems
            .push(format!("the roll-up costed {} items, expected at least {items}", last.items));
    }
    bench.finish().await;
    if let Some(first) = problems.first() {
        bail!("engineering check failed ({} problems), first: {first}", problems.len());
    }

    let best =
        times.iter().map(|t| (t.read_ms, t.compute_ms, t.write_ms)).min_by_key(|t| t.0 + t.1 + t.2);
    let (read_ms, compute_ms, write_ms) = best.unwrap_or_default();
    let check = format!(
        "ok: {items} items over {LEVELS} levels, {} tops x {} rows, {} totals equal; \
         best roll-up read {read_ms} + cost {compute_ms} + write {write_ms} ms; \
         peak RSS explode {explode_rss:.0} MiB, roll-up {rollup_rss:.0} MiB",
        tops,
        plan.rows_per_top(),
        expected.len()
    );
    let mk = |op: &str, lat: Latencies, units: u64, seconds: f64, cpu: f64, rss: f64| Row {
        workload: "engineering".into(),
        op: op.into(),
        ops: lat.count(),
        units_per_op: units,
        seconds,
        cpu_seconds: cpu,
        latencies: lat,
        peak_rss_mib: rss,
        check: check.clone(),
    };
    let per = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    Ok(vec![
        mk("seed", seed_lat, per(items), seed_seconds, seed_cpu, seed_rss),
        mk("explode", explode_lat, per(exploded_rows), explode_seconds, explode_cpu, explode_rss),
        mk("roll-up", rollup_lat, per(last.items), rollup_seconds, rollup_cpu, rollup_rss),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_add_up_and_each_is_covered_by_the_one_above() {
        for (items, tops) in [(100_000, 10), (2_000, 4)] {
            let sizes = level_sizes(items, tops, LEVELS);
            assert_eq!(sizes.len(), LEVELS);
            assert_eq!(sizes.iter().sum::<usize>(), items);
            for pair in sizes.windows(2) {
                assert!(pair[1] <= FAN_OUT * pair[0], "{sizes:?}");
            }
        }
        assert_eq!(
            level_sizes(100_000, 10, LEVELS),
            [10, 30, 90, 270, 810, 2430, 7290, 21870, 33600, 33600]
        );
    }
}
