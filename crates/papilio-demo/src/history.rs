//! Twelve months of stock history 库存流水 for the demo company, posted through the real
//! stock documents so the ledger, balances and values are what approval wrote.
//!
//! [`plan`] is pure: it simulates the stock of every (item, warehouse, bin, lot) while it
//! writes the documents, so no issue ever takes more than is there, and the same seed always
//! gives the same documents. The year runs up to [`ANCHOR`] (a fixed date, so the data does
//! not depend on the day it is loaded): opening stock on the first day, then per half month
//! purchase receipts (suppliers take turns), motor and fan production (issues of parts,
//! receipts of motors and fans), and the sales cycle ([`crate::sales`]: orders taken, what the
//! finished-goods store holds shipped against them); plus a few transfers, miscellaneous
//! issues and receipts with reasons, and two counts. Some stock is left to age (the
//! discontinued OLD-CAP-1UF, STEEL-WIRE and the ceiling-fan motors are received on the first
//! day and never issued) and a few items end under their safety stock (SWITCH-4, CAP-2UF and
//! the ceiling fan FAN-C52), so the alerts have something to say. `scale` N runs N times as
//! many production cycles per month.

use std::collections::BTreeMap;

use chrono::{Days, Months, NaiveDate};
use papilio_core::document::DocAction;
use papilio_store::Db;
use papilio_store::documents::{self, Draft, DraftLine, StockFields};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use crate::DemoError;
use crate::sales::{self, Actors, SalesStep};

/// The history ends the day before this date; it starts twelve months earlier.
pub const ANCHOR: NaiveDate = match NaiveDate::from_ymd_opt(2026, 12, 1) {
    Some(d) => d,
    None => NaiveDate::MIN,
};

/// One stock document to create, submit and approve.
#[derive(Debug, Clone)]
pub struct HistoryDoc {
    /// Stock document type code.
    pub doc_type: &'static str,
    /// Header and lines.
    pub draft: Draft,
}

/// One step of the history, in posting order.
#[derive(Debug, Clone)]
pub enum Step {
    /// A stock document posted as it stands.
    Stock(HistoryDoc),
    /// A step of the sales cycle: a quotation, order, delivery, invoice, receipt...
    Sales(SalesStep),
}

impl Step {
    /// Whether the step posts a stock document (a plain one, a delivery or a return).
    pub fn is_stock(&self) -> bool {
        match self {
            Step::Stock(_) => true,
            Step::Sales(s) => s.is_stock(),
        }
    }
}

/// A stocked item of the history: code, base unit, warehouse, bin, standard cost in cents,
/// lot prefix for lot-tracked items, supplier for purchased ones.
pub(crate) struct Stocked {
    pub(crate) code: &'static str,
    unit: &'static str,
    warehouse: &'static str,
    pub(crate) bin: &'static str,
    cost_cents: i64,
    lot: Option<&'static str>,
    supplier: Option<&'static str>,
}

const fn st(
    code: &'static str,
    unit: &'static str,
    warehouse: &'static str,
    bin: &'static str,
    cost_cents: i64,
    lot: Option<&'static str>,
    supplier: Option<&'static str>,
) -> Stocked {
    Stocked { code, unit, warehouse, bin, cost_cents, lot, supplier }
}

const STOCKED: &[Stocked] = &[
    st("BRG-608", "PCS", "RM", "RM-A01-01", 135, None, Some("S001")),
    st("SHAFT-8", "PCS", "RM", "RM-A01-02", 220, None, Some("S001")),
    st("SCREW-M4", "PCS", "RM", "RM-A01-03", 3, None, Some("S001")),
    st("CAP-2UF", "PCS", "RM", "RM-A02-01", 110, Some("CP"), Some("S002")),
    st("SWITCH-4", "PCS", "RM", "RM-A02-02", 340, None, Some("S008")),
    st("CORD-2M", "PCS", "RM", "RM-A02-03", 470, None, Some("S008")),
    st("CU-WIRE", "KG", "RM", "RM-A03-01", 7800, Some("CU"), Some("S003")),
    st("SI-STEEL", "KG", "RM", "RM-A03-02", 980, Some("SI"), Some("S004")),
    st("PP-RESIN", "KG", "RM", "RM-A03-03", 1120, Some("PP"), Some("S005")),
    st("STEEL-WIRE", "KG", "RM", "RM-A03-04", 690, None, Some("S006")),
    st("CARTON-F16", "PCS", "RM", "RM-A04-01", 380, None, Some("S007")),
    st("MANUAL", "PCS", "RM", "RM-A04-02", 45, None, Some("S007")),
    st("OLD-CAP-1UF", "PCS", "RM", "RM-A04-05", 90, None, Some("S002")),
    st("GRILL-16", "SET", "WIP", "WIP-A01-03", 960, None, Some("S006")),
    st("MOT-40W", "PCS", "WIP", "WIP-A01-01", 3120, Some("M40"), None),
    st("MOT-60W", "PCS", "WIP", "WIP-A01-02", 3850, Some("M60"), None),
    st("MOT-75W", "PCS", "WIP", "", 9600, Some("M75"), None),
    st("FAN-F16", "PCS", "FG", "FG-A01-01", 11840, None, None),
    st("FAN-F18", "PCS", "FG", "FG-A01-02", 13980, None, None),
    st("FAN-D12", "PCS", "FG", "FG-A02-01", 7260, None, None),
    st("FAN-D10", "PCS", "FG", "FG-A02-02", 6130, None, None),
    st("FAN-C52", "PCS", "FG", "FG-A03-01", 28600, None, None),
];

/// Fans made per production cycle (half a month at scale 1) and the motor each takes.
pub(crate) const FANS: &[(&str, i64, &str)] = &[
    ("FAN-F16", 200, "MOT-60W"),
    ("FAN-F18", 120, "MOT-60W"),
    ("FAN-D12", 250, "MOT-40W"),
    ("FAN-D10", 80, "MOT-40W"),
];

/// What one motor takes, in base units (thousandths).
const MOTOR_BOM: &[(&str, i64)] =
    &[("CU-WIRE", 350), ("SI-STEEL", 800), ("BRG-608", 2000), ("SHAFT-8", 1000), ("CAP-2UF", 1000)];

/// What one fan takes besides its motor, in base units (thousandths).
const FAN_BOM: &[(&str, i64)] = &[
    ("PP-RESIN", 1200),
    ("SWITCH-4", 1000),
    ("CORD-2M", 1000),
    ("CARTON-F16", 1000),
    ("MANUAL", 1000),
    ("SCREW-M4", 12_000),
    ("GRILL-16", 1000),
];

/// Opening stock in production cycles of use; items not listed start with none.
const OPENING_CYCLES: &[(&str, i64)] = &[
    ("BRG-608", 3),
    ("SHAFT-8", 3),
    ("SCREW-M4", 3),
    ("CU-WIRE", 3),
    ("SI-STEEL", 3),
    ("PP-RESIN", 3),
    ("CORD-2M", 3),
    ("CARTON-F16", 3),
    ("MANUAL", 3),
    ("GRILL-16", 2),
];

/// Items bought short at the end of the year, so they end under safety stock.
const SHORT: &[&str] = &["SWITCH-4", "CAP-2UF"];

pub(crate) fn stocked(code: &str) -> Option<&'static Stocked> {
    STOCKED.iter().find(|s| s.code == code)
}

fn thousandths(n: i64) -> Decimal {
    Decimal::new(n, 3)
}

type Key = (&'static str, &'static str, &'static str, String);

/// The stock of every key as the planned documents leave it, the steps so far, the sales
/// paperwork waiting for its date, and the sales order book.
pub(crate) struct Sim {
    stock: BTreeMap<Key, Decimal>,
    steps: Vec<Step>,
    rng: StdRng,
    lot_seq: u64,
    /// Sales steps that move no stock (invoices, receipts, closings), by date: each is posted
    /// before the first stock step dated after it, so the paperwork keeps pace with the goods.
    paper: BTreeMap<(NaiveDate, u64), SalesStep>,
    paper_seq: u64,
    /// Orders taken and what is still open on them.
    pub(crate) book: sales::Book,
}

fn line(s: &Stocked, qty: Decimal, lot: &str) -> DraftLine {
    DraftLine {
        item: Some(s.code.to_owned()),
        quantity: qty,
        unit: Some(s.unit.to_owned()),
        warehouse: Some(s.warehouse.to_owned()),
        stock: StockFields {
            bin: (!s.bin.is_empty()).then(|| s.bin.to_owned()),
            lot: (!lot.is_empty()).then(|| lot.to_owned()),
            ..StockFields::default()
        },
        ..DraftLine::default()
    }
}

impl Sim {
    /// Appends `step`, dated `date`, after the paperwork dated before it.
    pub(crate) fn emit(&mut self, date: NaiveDate, step: Step) {
        self.flush_before(date);
        self.steps.push(step);
    }

    /// Queues a paper step until the history reaches its date.
    pub(crate) fn queue(&mut self, date: NaiveDate, step: SalesStep) {
        self.paper_seq += 1;
        self.paper.insert((date, self.paper_seq), step);
    }

    fn flush_before(&mut self, date: NaiveDate) {
        while let Some(entry) = self.paper.first_entry() {
            if entry.key().0 >= date {
                break;
            }
            let step = entry.remove();
            self.steps.push(Step::Sales(step));
        }
    }

    /// What `s` has on hand in its warehouse and bin.
    pub(crate) fn available(&self, s: &Stocked) -> Decimal {
        self.stock
            .iter()
            .filter(|((i, w, b, _), _)| *i == s.code && *w == s.warehouse && *b == s.bin)
            .map(|(_, q)| *q)
            .sum()
    }

    /// A receipt line of `qty` of `s`, in a new lot when the item is lot tracked.
    fn put(&mut self, s: &'static Stocked, qty: Decimal, date: NaiveDate) -> DraftLine {
        let lot = match s.lot {
            Some(prefix) => {
                self.lot_seq += 1;
                format!("{prefix}{}-{:04}", date.format("%y%m%d"), self.lot_seq)
            }
            None => String::new(),
        };
        *self.stock.entry((s.code, s.warehouse, s.bin, lot.clone())).or_default() += qty;
        line(s, qty, &lot)
    }

    /// Puts `qty` of `s` back on its shelf (a customer return), in no lot.
    pub(crate) fn put_back(&mut self, s: &'static Stocked, qty: Decimal) {
        *self.stock.entry((s.code, s.warehouse, s.bin, String::new())).or_default() += qty;
    }

    /// Issue lines for up to `qty` of `s`, oldest lot first; less if less is there.
    pub(crate) fn take(&mut self, s: &'static Stocked, qty: Decimal) -> Vec<DraftLine> {
        let mut left = qty;
        let mut out = Vec::new();
        for ((i, w, b, lot), have) in self.stock.iter_mut() {
            if left <= Decimal::ZERO {
                break;
            }
            if *i != s.code || *w != s.warehouse || *b != s.bin || *have <= Decimal::ZERO {
                continue;
            }
            let n = left.min(*have);
            *have -= n;
            left -= n;
            out.push(line(s, n, lot));
        }
        out
    }

    fn push(&mut self, doc_type: &'static str, date: NaiveDate, lines: Vec<DraftLine>) -> usize {
        self.push_with(doc_type, date, None, None, None, lines)
    }

    fn push_with(
        &mut self,
        doc_type: &'static str,
        date: NaiveDate,
        partner: Option<&str>,
        reason: Option<&str>,
        note: Option<&str>,
        lines: Vec<DraftLine>,
    ) -> usize {
        if lines.is_empty() {
            return 0;
        }
        let doc = HistoryDoc {
            doc_type,
            draft: Draft {
                doc_date: Some(date),
                partner: partner.map(str::to_owned),
                note: note.map(str::to_owned),
                reason: reason.map(str::to_owned),
                lines,
                ..Draft::default()
            },
        };
        self.emit(date, Step::Stock(doc));
        1
    }

    /// A purchase price near the standard cost.
    fn price(&mut self, s: &Stocked) -> Decimal {
        Decimal::new(s.cost_cents * self.rng.random_range(95..=106), 4)
    }

    /// `base` rounded up to a whole `multiple`, varied by a few percent.
    fn varied(&mut self, base: Decimal, multiple: Decimal, low: i64, high: i64) -> Decimal {
        let pct = Decimal::from(self.rng.random_range(low..=high));
        let q = base * pct / Decimal::ONE_HUNDRED;
        (q / multiple).ceil() * multiple
    }
}

/// Use of `code` per production cycle, in base units.
fn per_cycle(code: &str) -> Decimal {
    let motors: i64 = FANS.iter().map(|(_, n, _)| n).sum();
    MOTOR_BOM
        .iter()
        .chain(FAN_BOM)
        .filter(|(c, _)| *c == code)
        .map(|(_, per)| thousandths(per * motors))
        .sum()
}

fn multiple(s: &Stocked) -> Decimal {
    match (s.unit, s.code) {
        ("KG", _) => Decimal::from(25),
        (_, "SCREW-M4") => Decimal::from(1000),
        _ => Decimal::from(50),
    }
}

fn day(month_start: NaiveDate, day: u32) -> NaiveDate {
    month_start.checked_add_days(Days::new(u64::from(day.clamp(1, 28) - 1))).unwrap_or(month_start)
}

/// The first day of the history.
pub fn start() -> NaiveDate {
    ANCHOR.checked_sub_months(Months::new(12)).unwrap_or(ANCHOR)
}

/// Every step of the history, in posting order.
pub fn plan(seed: u64, scale: u32) -> Vec<Step> {
    let scale = scale.max(1);
    let mut sim = Sim {
        stock: BTreeMap::new(),
        steps: Vec::new(),
        rng: StdRng::seed_from_u64(seed ^ 0x0053_544f_434b),
        lot_seq: 0,
        paper: BTreeMap::new(),
        paper_seq: 0,
        book: sales::Book::new(seed),
    };
    let start = start();
    opening(&mut sim, start);

    let cycles = 2 * scale;
    for m in 0..12u32 {
        let month = start.checked_add_months(Months::new(m)).unwrap_or(start);
        for c in 0..cycles {
            let d0 = 1 + c * 26 / cycles;
            let last_month = m == 11;
            purchases(&mut sim, day(month, d0), c % 2, last_month);
            production(&mut sim, day(month, d0 + 2));
            let when = sales::When { month: m, cycle: c, last: last_month && c + 1 == cycles };
            sales::cycle(&mut sim, day(month, d0 + 3), when);
            if c % 2 == 1 {
                extras(&mut sim, month, m, d0);
            }
        }
    }
    sales::finish(&mut sim);
    // Paperwork dated from the anchor on has not happened yet.
    sim.flush_before(ANCHOR);
    sim.steps
}

fn opening(sim: &mut Sim, date: NaiveDate) {
    let note = Some("期初库存 opening stock");
    let mut by_supplier: BTreeMap<&str, Vec<DraftLine>> = BTreeMap::new();
    for s in STOCKED {
        let Some(supplier) = s.supplier else { continue };
        let qty = match s.code {
            "OLD-CAP-1UF" => Decimal::from(3000),
            "STEEL-WIRE" => Decimal::from(850),
            c if SHORT.contains(&c) => per_cycle(c) * Decimal::new(12, 1),
            c => {
                let cycles = OPENING_CYCLES.iter().find(|(i, _)| *i == c).map_or(0, |(_, n)| *n);
                per_cycle(c) * Decimal::from(cycles)
            }
        };
        if qty > Decimal::ZERO {
            let price = sim.price(s);
            let mut l = sim.put(s, qty, date);
            l.unit_price = Some(price);
            by_supplier.entry(supplier).or_default().push(l);
        }
    }
    for (supplier, lines) in by_supplier {
        sim.push_with("purchase_receipt", date, Some(supplier), None, note, lines);
    }
    let mut made = Vec::new();
    for (code, qty) in [
        ("FAN-F16", 260),
        ("FAN-F18", 150),
        ("FAN-D12", 320),
        ("FAN-D10", 120),
        ("FAN-C52", 90),
        ("MOT-40W", 380),
        ("MOT-60W", 360),
    ] {
        if let Some(s) = stocked(code) {
            made.push(sim.put(s, Decimal::from(qty), date));
        }
    }
    sim.push_with("production_receipt", date, None, None, note, made);
    if let Some(s) = stocked("MOT-75W") {
        let l = sim.put(s, Decimal::from(40), date);
        sim.push_with("misc_receipt", date, None, Some("OPEN"), note, vec![l]);
    }
}

/// Receipts from the suppliers whose turn it is (`half` 0 or 1), each covering two cycles.
fn purchases(sim: &mut Sim, date: NaiveDate, half: u32, last_month: bool) {
    let suppliers: &[&str] = if half == 0 {
        &["S001", "S003", "S005", "S007"]
    } else {
        &["S002", "S004", "S006", "S008"]
    };
    for supplier in suppliers {
        let mut lines = Vec::new();
        for s in STOCKED.iter().filter(|s| s.supplier == Some(supplier)) {
            let need = per_cycle(s.code) * Decimal::TWO;
            if need.is_zero() {
                continue;
            }
            let (low, high) = if SHORT.contains(&s.code) {
                if last_month { (45, 50) } else { (100, 100) }
            } else {
                (97, 108)
            };
            let qty = sim.varied(need, multiple(s), low, high);
            let price = sim.price(s);
            let mut l = sim.put(s, qty, date);
            l.unit_price = Some(price);
            lines.push(l);
        }
        sim.push_with("purchase_receipt", date, Some(supplier), None, None, lines);
    }
}

/// How many of a product the parts on hand allow, up to `wanted`.
fn feasible(sim: &Sim, wanted: i64, bom: &[(&str, i64)]) -> i64 {
    let mut n = wanted;
    for (code, per) in bom {
        let Some(s) = stocked(code) else { continue };
        let have = sim.available(s) * Decimal::from(1000) / Decimal::from(*per);
        n = n.min(have.floor().to_i64().unwrap_or(0).max(0));
    }
    n
}

fn issue_bom(sim: &mut Sim, n: i64, bom: &[(&str, i64)], lines: &mut Vec<DraftLine>) {
    for (code, per) in bom {
        if let Some(s) = stocked(code) {
            lines.extend(sim.take(s, thousandths(per * n)));
        }
    }
}

/// One cycle's motors, then fans: issues of parts and receipts of what was made.
fn production(sim: &mut Sim, date: NaiveDate) {
    for motor in ["MOT-60W", "MOT-40W"] {
        let wanted: i64 = FANS.iter().filter(|f| f.2 == motor).map(|f| f.1).sum();
        let n = feasible(sim, wanted, MOTOR_BOM);
        let mut issue = Vec::new();
        issue_bom(sim, n, MOTOR_BOM, &mut issue);
        sim.push_with("production_issue", date, None, None, Some(motor), issue);
        if let Some(s) = stocked(motor).filter(|_| n > 0) {
            let l = sim.put(s, Decimal::from(n), date);
            sim.push("production_receipt", date, vec![l]);
        }
    }
    let next = date.checked_add_days(Days::new(1)).unwrap_or(date);
    let mut issue = Vec::new();
    let mut made = Vec::new();
    for (fan, wanted, motor) in FANS {
        let mut bom: Vec<(&str, i64)> = FAN_BOM.to_vec();
        bom.push((motor, 1000));
        let n = feasible(sim, *wanted, &bom);
        if n == 0 {
            continue;
        }
        issue_bom(sim, n, &bom, &mut issue);
        if let Some(s) = stocked(fan) {
            made.push(sim.put(s, Decimal::from(n), next));
        }
    }
    sim.push_with("production_issue", next, None, None, Some("总装 assembly"), issue);
    sim.push("production_receipt", next, made);
}

fn reasoned(sim: &mut Sim, date: NaiveDate, reason: &str, note: &str, what: &[(&str, i64)]) {
    let mut lines = Vec::new();
    for (code, qty) in what {
        if let Some(s) = stocked(code) {
            lines.extend(sim.take(s, thousandths(*qty)));
        }
    }
    sim.push_with("misc_issue", date, None, Some(reason), Some(note), lines);
}

/// The month's transfers, miscellaneous issues and receipts, and counts.
fn extras(sim: &mut Sim, month: NaiveDate, m: u32, d0: u32) {
    let date = day(month, d0 + 1);
    if m % 3 == 2 {
        let mut lines = Vec::new();
        for (code, to, qty) in [("SCREW-M4", "WIP", 2000), ("BRG-608", "SUBC", 500)] {
            let Some(s) = stocked(code) else { continue };
            for mut l in sim.take(s, Decimal::from(qty)) {
                l.stock.to_warehouse = Some(to.to_owned());
                let key = (s.code, to, "", String::new());
                *sim.stock.entry(key).or_default() += l.quantity;
                lines.push(l);
            }
        }
        sim.push_with("stock_transfer", date, None, None, Some("线边及外协补料"), lines);
    }
    if m % 3 == 1 {
        reasoned(
            sim,
            date,
            "SAMPLE",
            "展会样品 trade-show samples",
            &[("FAN-D12", 3000), ("FAN-F16", 2000)],
        );
    }
    if m == 3 || m == 8 {
        reasoned(sim, date, "SCRAP", "来料不良报废", &[("CAP-2UF", 20_000), ("PP-RESIN", 12_500)]);
    }
    if m == 2 || m == 9 {
        reasoned(sim, date, "RD", "新款电机试制", &[("MOT-60W", 4000), ("SWITCH-4", 6000)]);
    }
    if m == 10 {
        reasoned(sim, date, "LOST", "盘点前遗失", &[("CORD-2M", 4000)]);
    }
    if m == 6
        && let Some(s) = stocked("SCREW-M4")
    {
        let l = sim.put(s, Decimal::from(500), date);
        sim.push_with("misc_receipt", date, None, Some("FOUND"), Some("仓库整理发现"), vec![l]);
    }
    if m == 5 || m == 10 {
        let mut lines = Vec::new();
        for (code, diff) in [("BRG-608", -6), ("SHAFT-8", 3), ("CORD-2M", -2), ("CARTON-F16", 0)] {
            let Some(s) = stocked(code) else { continue };
            let book = sim.available(s);
            let counted = (book + Decimal::from(diff)).max(Decimal::ZERO);
            let mut l = line(s, counted, "");
            l.stock.book_qty = Some(book);
            *sim.stock.entry((s.code, s.warehouse, s.bin, String::new())).or_default() = counted;
            lines.push(l);
        }
        sim.push_with("stock_count", day(month, 28), None, None, Some("半年盘点"), lines);
    }
}

/// Posts every planned step: stock documents are created, submitted and approved by the
/// warehouse manager, sales steps by whoever does them ([`sales::Loader`]). Answers how many
/// documents of each type were created.
pub async fn load(
    db: &Db,
    steps: &[Step],
    actors: &Actors,
    progress: &(dyn Fn(&str, u64) + Sync),
) -> Result<BTreeMap<&'static str, u64>, DemoError> {
    let types = papilio_store::document_types();
    let mut sales = sales::Loader::new(db, actors);
    let mut stock: BTreeMap<&'static str, u64> = BTreeMap::new();
    let actor = &actors.warehouse;
    for (i, step) in steps.iter().enumerate() {
        if i % 50 == 49 {
            progress("document", u64::try_from(i + 1).unwrap_or(0));
        }
        let doc = match step {
            Step::Stock(doc) => doc,
            Step::Sales(s) => {
                sales.run(s).await?;
                continue;
            }
        };
        let Some(doc_type) = types.iter().find(|t| t.code == doc.doc_type) else {
            return Err(DemoError::Invalid { kind: "document", errors: doc.doc_type.to_owned() });
        };
        let created = documents::create(db, doc_type, &doc.draft, actor).await?;
        let submitted = documents::transition(
            db,
            doc_type,
            created.id,
            created.version,
            DocAction::Submit,
            actor,
            None,
        )
        .await?;
        documents::transition(
            db,
            doc_type,
            submitted.id,
            submitted.version,
            DocAction::Approve,
            actor,
            None,
        )
        .await?;
        *stock.entry(doc.doc_type).or_default() += 1;
    }
    let mut counts = sales.counts;
    for (k, n) in stock {
        *counts.entry(k).or_default() += n;
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_history_is_deterministic_and_never_overdraws() {
        let a = plan(3, 1);
        assert_eq!(format!("{a:?}"), format!("{:?}", plan(3, 1)));
        let stock = |steps: &[Step]| steps.iter().filter(|s| s.is_stock()).count();
        assert!((200..600).contains(&stock(&a)), "{} stock documents", stock(&a));
        assert!(stock(&plan(3, 2)) > stock(&a) * 3 / 2);
        for step in &a {
            let Step::Stock(d) = step else { continue };
            assert!(!d.draft.lines.is_empty());
            assert!(d.draft.lines.iter().all(|l| l.quantity >= Decimal::ZERO));
            let date = d.draft.doc_date.unwrap_or_default();
            assert!(date < ANCHOR && date >= NaiveDate::from_ymd_opt(2025, 12, 1).unwrap());
        }
    }
}
