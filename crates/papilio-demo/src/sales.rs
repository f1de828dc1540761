//! The demo company's sales 销售: price lists and policies, limits and targets, and a year of
//! quotations, orders, deliveries, invoices and receipts.
//!
//! Master data ([`master_plan`] and the helpers `lib.rs` asks while it builds items, groups
//! and employees): a base list for the five fans in CNY with quantity breaks, a dealer group
//! list, export lists in USD and EUR, a summer special (a time window) and two periodic
//! specials (Fridays, the last three days of each month); discount policies by customer group,
//! by item category and by order amount, one of them only for a Spring Festival window; floor
//! prices, a maximum discount per group, order amount limits per salesperson, and monthly
//! targets for both salespeople.
//!
//! The year is an order book run inside the stock history ([`cycle`], called by
//! `history::plan` every half month): three customers in turn place orders (some from a
//! quotation; the prices are left to the pricing engine), then what the finished-goods store
//! holds is shipped against the open lines, oldest first. Some orders are shipped in two
//! parts, and what production could not cover waits, so some lines are delivered after their
//! promised date and some are still open and late at the end. Deliveries are invoiced (key
//! accounts once a month), invoices are paid around their due date, most in full, some late,
//! some in part; one dealer's August invoice is never paid, and one dealer ends the year close
//! to its credit limit with an order waiting for the finance manager. Two deliveries come
//! partly back with a credit note. Paperwork that moves no stock waits in the history's queue
//! until its date, so everything is posted roughly in date order.
//!
//! [`Loader`] posts the steps through the store like any user would: the salesperson enters
//! quotations and orders, the sales manager approves them (and whatever the approval rules
//! asked for), the warehouse manager ships and takes returns back, the finance manager invoices
//! and books receipts.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;

use chrono::{Datelike, Days, NaiveDate};
use papilio_core::document::DocAction;
use papilio_core::entities;
use papilio_core::schema::EntityDef;
use papilio_core::value::round_to;
use papilio_store::documents::{self, Actor, DocType, Document, Draft, DraftLine};
use papilio_store::sales::SalesSettings;
use papilio_store::{Db, users};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;

use crate::history::{ANCHOR, FANS, Sim, Step, stocked};
use crate::{CUSTOMERS, DemoError, Row, row};

// ---------------------------------------------------------------------------------------
// Master data

/// The fans on the price lists: code, base list price, dealer price and floor price in CNY,
/// and the export list prices in USD and EUR.
const PRODUCTS: &[(&str, &str, &str, &str, &str, &str)] = &[
    ("FAN-F16", "198", "178", "150", "29.50", "27.00"),
    ("FAN-F18", "238", "212", "175", "35.00", "32.00"),
    ("FAN-D12", "128", "112", "92", "18.50", "17.00"),
    ("FAN-D10", "98", "88", "76", "14.50", "13.50"),
    ("FAN-C52", "468", "420", "360", "69.00", "63.00"),
];

/// The floor price of `item`, empty when it has none.
pub(crate) fn floor_price(item: &str) -> &'static str {
    PRODUCTS.iter().find(|p| p.0 == item).map_or("", |p| p.3)
}

/// The largest discount (percent) customers of `group` get without the sales manager.
pub(crate) fn max_discount_pct(group: &str) -> &'static str {
    match group {
        "KA" => "10",
        "DEALER" => "8",
        "ONLINE" => "5",
        _ => "",
    }
}

/// The order amount (CNY) above which an employee's orders need the sales manager.
pub(crate) fn order_amount_limit(employee: &str) -> &'static str {
    match employee {
        "E006" => "300000",
        "E007" => "40000",
        "E017" => "35000",
        _ => "",
    }
}

/// Monthly sales targets in thousands of CNY of the two salespeople from December 2025 to
/// December 2026: fans sell in summer, so the targets rise from spring and fall back in
/// autumn (and the summer months are missed: the plant makes as many fans every month).
const TARGETS: &[(&str, [u32; 13])] = &[
    ("E007", [85, 75, 75, 80, 85, 90, 100, 100, 90, 85, 80, 80, 85]),
    ("E017", [80, 70, 70, 75, 80, 85, 95, 95, 85, 80, 75, 75, 80]),
];

/// A sales price row; empty fields are left out.
#[derive(Debug, Clone, Copy, Default)]
struct Price<'a> {
    code: &'a str,
    item: &'a str,
    currency: &'a str,
    group: &'a str,
    min_qty: &'a str,
    price: &'a str,
    from: &'a str,
    to: &'a str,
    special: bool,
    weekday: &'a str,
    last_days: &'a str,
}

impl Price<'_> {
    fn row(&self) -> Row {
        row(&[
            ("code", self.code),
            ("item", self.item),
            ("currency", self.currency),
            ("customer_group", self.group),
            // The column has no default when the demo inserts.
            ("min_qty", if self.min_qty.is_empty() { "0" } else { self.min_qty }),
            ("price", self.price),
            ("valid_from", self.from),
            ("valid_to", self.to),
            ("special", if self.special { "true" } else { "false" }),
            ("weekday", self.weekday),
            ("last_days", self.last_days),
        ])
    }
}

/// The sales master rows: price lists, discount policies and targets.
pub(crate) fn master_plan() -> Vec<(&'static EntityDef, Vec<Row>)> {
    let mut prices = Vec::new();
    for (item, base, dealer, _, usd, eur) in PRODUCTS {
        let short = item.trim_start_matches("FAN-");
        for (prefix, currency, group, price) in [
            ("L", "CNY", "", base),
            ("D", "CNY", "DEALER", dealer),
            ("U", "USD", "", usd),
            ("E", "EUR", "", eur),
        ] {
            let code = format!("{prefix}-{short}");
            prices.push(
                Price { code: &code, item, currency, group, price, ..Price::default() }.row(),
            );
        }
    }
    // Quantity breaks.
    for (code, item, group, min_qty, price) in [
        ("L100-F16", "FAN-F16", "", "100", "188"),
        ("L200-D12", "FAN-D12", "", "200", "120"),
        ("D200-F16", "FAN-F16", "DEALER", "200", "170"),
        ("D300-D12", "FAN-D12", "DEALER", "300", "106"),
    ] {
        let p = Price { code, item, currency: "CNY", group, min_qty, price, ..Price::default() };
        prices.push(p.row());
    }
    // A summer special for everyone, and the dealers' own; then periodic specials: desk fans
    // on Fridays, and in the last three days of every month.
    let special = Price { currency: "CNY", special: true, ..Price::default() };
    let summer = Price { item: "FAN-F18", from: "2026-06-01", to: "2026-07-31", ..special };
    prices.push(Price { code: "SUMMER-F18", price: "218", ..summer }.row());
    prices.push(Price { code: "SUMMER-D-F18", group: "DEALER", price: "199", ..summer }.row());
    let fridays = Price { code: "FRI-D10", item: "FAN-D10", price: "85", weekday: "5", ..special };
    prices.push(fridays.row());
    let month_end =
        Price { code: "EOM-D12", item: "FAN-D12", price: "115", last_days: "3", ..special };
    prices.push(month_end.row());

    let policy = |code: &str, zh: &str, en: &str, basis: (&str, &str, &str), pct: &str| {
        let (group, category, min) = basis;
        let kind = if !group.is_empty() {
            "customer_group"
        } else if !category.is_empty() {
            "item_category"
        } else {
            "order_amount"
        };
        row(&[
            ("code", code),
            ("name_zh", zh),
            ("name_en", en),
            ("basis", kind),
            ("customer_group", group),
            ("item_category", category),
            ("min_amount", min),
            ("percent", pct),
        ])
    };
    let mut policies = vec![
        policy("KA3", "重点客户折扣", "Key account discount", ("KA", "", ""), "3"),
        policy("DEALER2", "经销商折扣", "Dealer discount", ("DEALER", "", ""), "2"),
        policy("CEIL5", "吊扇促销折扣", "Ceiling fan discount", ("", "FG-CEIL", ""), "5"),
    ];
    let mut big = policy("BIG4", "大单折扣", "Large order discount", ("", "", "60000"), "4");
    big.push(("currency", "CNY".to_owned()));
    policies.push(big);
    let mut export = policy("EXP3", "出口大单折扣", "Large export order", ("", "", "10000"), "3");
    export.push(("currency", "USD".to_owned()));
    policies.push(export);
    let mut spring =
        policy("SPRING4", "春节电商促销", "Spring Festival online", ("ONLINE", "", ""), "4");
    spring.push(("valid_from", "2026-01-20".to_owned()));
    spring.push(("valid_to", "2026-02-15".to_owned()));
    policies.push(spring);

    let mut targets = Vec::new();
    for (person, months) in TARGETS {
        for (i, thousands) in months.iter().enumerate() {
            let (year, month) = if i == 0 { (2025, 12) } else { (2026, i) };
            targets.push(row(&[
                ("salesperson", person),
                ("year", &year.to_string()),
                ("month", &month.to_string()),
                ("amount", &(thousands * 1000).to_string()),
            ]));
        }
    }
    vec![
        (&entities::SALES_PRICE, prices),
        (&entities::DISCOUNT_POLICY, policies),
        (&entities::SALES_TARGET, targets),
    ]
}

// ---------------------------------------------------------------------------------------
// The planned steps

/// A quotation or order line as planned: the pricing engine prices it unless a price or a
/// discount is typed.
#[derive(Debug, Clone)]
pub struct PlannedLine {
    /// Item code.
    pub item: &'static str,
    /// Quantity in the base unit.
    pub qty: Decimal,
    /// The date promised to the customer.
    pub promised: Option<NaiveDate>,
    /// A price the salesperson typed instead of the engine's.
    pub unit_price: Option<Decimal>,
    /// A discount the salesperson typed instead of the policies'.
    pub discount_pct: Option<Decimal>,
}

/// How far a planned quotation or order goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Left as a draft.
    Draft,
    /// Submitted and waiting for an approver.
    Submitted,
    /// Approved.
    Approved,
    /// Approved, then closed (a quotation the customer turned down).
    Closed,
    /// Cancelled as a draft.
    Cancelled,
}

/// What a receipt line settles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settles {
    /// The invoice with this key.
    Invoice(usize),
    /// The credit note with this key.
    CreditNote(usize),
}

/// How much of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Share {
    /// Whatever is still open.
    Rest,
    /// This percentage of the total.
    Percent(u32),
}

/// One sales step. Keys number the documents of each kind in the plan; later steps refer to
/// earlier documents by key, and the loader maps keys to what it created.
#[derive(Debug, Clone)]
pub enum SalesStep {
    /// A quotation.
    Quotation {
        /// Its key.
        key: usize,
        /// Date.
        date: NaiveDate,
        /// Customer code.
        customer: &'static str,
        /// Lines.
        lines: Vec<PlannedLine>,
        /// How far it goes.
        fate: Fate,
    },
    /// A sales order, pushed down from a quotation's lines or entered afresh.
    Order {
        /// Its key.
        key: usize,
        /// Date.
        date: NaiveDate,
        /// Customer code.
        customer: &'static str,
        /// The quotation it comes from (line for line).
        quotation: Option<usize>,
        /// Lines.
        lines: Vec<PlannedLine>,
        /// How far it goes.
        fate: Fate,
    },
    /// A delivery pushed down from order lines: (order line index, quantity, bin).
    Delivery {
        /// Its key.
        key: usize,
        /// Date.
        date: NaiveDate,
        /// The order's key.
        order: usize,
        /// What is shipped.
        lines: Vec<(usize, Decimal, &'static str)>,
    },
    /// Goods sent back against one delivery line, put back in `bin`.
    Return {
        /// Its key.
        key: usize,
        /// Date.
        date: NaiveDate,
        /// The delivery's key.
        delivery: usize,
        /// The delivery line's index.
        line: usize,
        /// Quantity.
        qty: Decimal,
        /// Bin the goods go back to.
        bin: &'static str,
    },
    /// An invoice of every line of some deliveries.
    Invoice {
        /// Its key.
        key: usize,
        /// Date.
        date: NaiveDate,
        /// The deliveries' keys.
        deliveries: Vec<usize>,
    },
    /// A credit note for a whole return.
    CreditNote {
        /// Its key.
        key: usize,
        /// Date.
        date: NaiveDate,
        /// The return's key.
        ret: usize,
    },
    /// A customer's payment.
    Receipt {
        /// Date.
        date: NaiveDate,
        /// Customer code.
        customer: &'static str,
        /// What it settles, and how much of each.
        settles: Vec<(Settles, Share)>,
    },
    /// An order closed: fully delivered, or what is left the customer no longer wants.
    Close {
        /// The order's key.
        order: usize,
    },
}

impl SalesStep {
    /// Whether the step posts stock (deliveries and returns).
    pub fn is_stock(&self) -> bool {
        matches!(self, SalesStep::Delivery { .. } | SalesStep::Return { .. })
    }
}

// ---------------------------------------------------------------------------------------
// The order book

/// A line of an order in the book: item and what is still to ship.
#[derive(Debug, Clone)]
struct BookLine {
    item: &'static str,
    open: Decimal,
}

#[derive(Debug, Clone)]
struct BookOrder {
    customer: &'static str,
    lines: Vec<BookLine>,
    /// Shipped in two parts: about 60% first.
    split: bool,
    shipped: bool,
    /// Approved and not closed: its open lines wait for stock.
    live: bool,
}

/// Orders taken so far, what is open on them, and the counters of the other documents.
#[derive(Debug)]
pub(crate) struct Book {
    rng: StdRng,
    orders: Vec<BookOrder>,
    quotations: usize,
    deliveries: usize,
    returns: usize,
    invoices: usize,
    credit_notes: usize,
    /// Key accounts are invoiced once a month: their deliveries by customer and month.
    monthly: BTreeMap<(&'static str, NaiveDate), Vec<usize>>,
    /// Sales cycles run so far: customers take turns by it.
    cycles: u32,
    unpaid_planned: bool,
    partly_paid_planned: bool,
    short_closed: bool,
}

impl Book {
    /// An empty book whose choices follow `seed`.
    pub(crate) fn new(seed: u64) -> Book {
        Book {
            rng: StdRng::seed_from_u64(seed ^ 0x0053_414c_4553),
            orders: Vec::new(),
            quotations: 0,
            deliveries: 0,
            returns: 0,
            invoices: 0,
            credit_notes: 0,
            monthly: BTreeMap::new(),
            cycles: 0,
            unpaid_planned: false,
            partly_paid_planned: false,
            short_closed: false,
        }
    }
}

/// The customers in the order they take turns.
const ROTATION: &[&str] =
    &["C001", "C002", "C003", "C004", "C005", "C006", "C007", "C008", "C009", "C010"];

/// The customer with the unpaid August invoice.
const UNPAID: &str = "C004";
/// The customer near its credit limit, who also pays late.
const NEAR_LIMIT: &str = "C005";

fn customer(code: &str) -> (&'static str, &'static str) {
    CUSTOMERS.iter().find(|c| c.0 == code).map_or(("", ""), |c| (c.3, c.5))
}

fn payment_days(code: &str) -> u64 {
    match customer(code).1 {
        "NET30" => 30,
        "NET60" => 60,
        _ => 0,
    }
}

/// Days between order and promised delivery, by customer group.
fn lead_days(code: &str) -> u64 {
    match customer(code).0 {
        "DEALER" => 10,
        "EXPORT" => 25,
        _ => 7,
    }
}

fn plus(date: NaiveDate, days: i64) -> NaiveDate {
    let d = if days >= 0 {
        date.checked_add_days(Days::new(days.unsigned_abs()))
    } else {
        date.checked_sub_days(Days::new(days.unsigned_abs()))
    };
    d.unwrap_or(date)
}

fn month_start(date: NaiveDate) -> NaiveDate {
    date.with_day(1).unwrap_or(date)
}

fn month_end(date: NaiveDate) -> NaiveDate {
    month_start(date)
        .checked_add_months(chrono::Months::new(1))
        .and_then(|d| d.pred_opt())
        .unwrap_or(date)
}

fn tens(q: Decimal) -> Decimal {
    (q / Decimal::TEN).floor() * Decimal::TEN
}

fn planned(item: &'static str, qty: Decimal) -> PlannedLine {
    PlannedLine { item, qty, promised: None, unit_price: None, discount_pct: None }
}

/// Where a sales cycle falls: the month of the history (0 to 11), and whether it is the
/// month's first cycle, its second, or the year's last.
#[derive(Debug, Clone, Copy)]
pub(crate) struct When {
    /// Month of the history, 0 for the first.
    pub(crate) month: u32,
    /// Cycle within the month, 0 for the first.
    pub(crate) cycle: u32,
    /// The last cycle of the year.
    pub(crate) last: bool,
}

impl When {
    fn is(self, month: u32, cycle: u32) -> bool {
        self.month == month && self.cycle == cycle
    }
}

/// One sales cycle on `date` (half a month at scale 1): the key accounts' previous months
/// are invoiced, three customers order, a quotation may go out that never becomes an order,
/// and what stock allows is shipped. The scripted events (a typed price, a cancelled order, a
/// return...) happen in fixed months whatever the scale.
pub(crate) fn cycle(sim: &mut Sim, date: NaiveDate, when: When) {
    invoice_months_before(sim, month_start(date));
    let start = crate::history::start();
    let n = sim.book.cycles;
    sim.book.cycles += 1;
    let last = when.last;
    for k in 0..3u32 {
        let who = ROTATION[usize::try_from(n * 3 + k).unwrap_or(0) % ROTATION.len()];
        let mut lines = Vec::new();
        for (i, (fan, made, _)) in FANS.iter().enumerate() {
            if (i + usize::try_from(k).unwrap_or(0)) % 3 == 2 {
                continue;
            }
            let pct = sim.book.rng.random_range(90..=118);
            let qty = tens(Decimal::from(made * pct) / Decimal::from(200)).max(Decimal::TEN);
            lines.push(planned(fan, qty));
        }
        if k == 0 && (n.is_multiple_of(2) || last) {
            // The last order of the year asks for more ceiling fans than are left.
            let qty = if last { 40 } else { sim.book.rng.random_range(2..=8) };
            lines.push(planned("FAN-C52", Decimal::from(qty)));
        }
        // The salesperson types a price under the floor once, and a discount over the
        // group's maximum once: both go to the sales manager.
        if when.is(3, 1)
            && k == 0
            && let Some(first) = lines.first_mut()
        {
            let floor: Decimal = floor_price(first.item).parse().unwrap_or_default();
            first.unit_price = Some(floor - Decimal::from(6));
        }
        if when.is(7, 1)
            && k == 1
            && let Some(first) = lines.first_mut()
        {
            first.discount_pct = Some(Decimal::from(8));
        }
        let back = sim.book.rng.random_range(1..=6);
        let ordered = plus(date, -back).max(start);
        let split = sim.book.rng.random_range(0..6) == 0 || (last && k == 0);
        take_order(sim, ordered, who, lines, split, Fate::Approved);
    }
    // Two orders that came to nothing.
    if when.is(2, 1) {
        let lines = vec![planned("FAN-D12", Decimal::from(120))];
        take_order(sim, plus(date, -2), "C010", lines, false, Fate::Cancelled);
    }
    if when.is(8, 0) {
        let lines = vec![planned("FAN-F18", Decimal::from(60))];
        take_order(sim, plus(date, -1), "C006", lines, false, Fate::Cancelled);
    }
    // A quotation that is not (or not yet) an order.
    if n % 2 == 1 {
        let who = ROTATION[usize::try_from(n * 7).unwrap_or(0) % ROTATION.len()];
        let a = FANS[usize::try_from(n).unwrap_or(0) % FANS.len()].0;
        let b = FANS[usize::try_from(n + 1).unwrap_or(0) % FANS.len()].0;
        let qa = Decimal::from(sim.book.rng.random_range(5..=20) * 10);
        let qb = Decimal::from(sim.book.rng.random_range(5..=20) * 10);
        let lost = when.month < 8 && sim.book.rng.random_range(0..3) > 0;
        let fate = if lost { Fate::Closed } else { Fate::Approved };
        quote(sim, plus(date, -2), who, vec![planned(a, qa), planned(b, qb)], fate);
    }
    ship(sim, date, when);
}

fn quote(
    sim: &mut Sim,
    date: NaiveDate,
    who: &'static str,
    lines: Vec<PlannedLine>,
    fate: Fate,
) -> usize {
    let key = sim.book.quotations;
    sim.book.quotations += 1;
    let step = SalesStep::Quotation { key, date, customer: who, lines, fate };
    sim.emit(date, Step::Sales(step));
    key
}

/// Takes an order (four in ten after a quotation), promising delivery after the customer's
/// usual lead time.
fn take_order(
    sim: &mut Sim,
    date: NaiveDate,
    who: &'static str,
    mut lines: Vec<PlannedLine>,
    split: bool,
    fate: Fate,
) {
    let promised = plus(date, i64::try_from(lead_days(who)).unwrap_or(7));
    for l in &mut lines {
        l.promised = Some(promised);
    }
    let typed = lines.iter().any(|l| l.unit_price.is_some() || l.discount_pct.is_some());
    let quotation = if fate == Fate::Approved && !typed && sim.book.rng.random_range(0..10) < 4 {
        let back = sim.book.rng.random_range(3..=8);
        let quoted = plus(date, -back).max(crate::history::start());
        let quote_lines = lines.iter().map(|l| planned(l.item, l.qty)).collect();
        Some(quote(sim, quoted, who, quote_lines, Fate::Approved))
    } else {
        None
    };
    let key = sim.book.orders.len();
    sim.book.orders.push(BookOrder {
        customer: who,
        lines: lines.iter().map(|l| BookLine { item: l.item, open: l.qty }).collect(),
        split,
        shipped: false,
        live: fate == Fate::Approved,
    });
    let step = SalesStep::Order { key, date, customer: who, quotation, lines, fate };
    sim.emit(date, Step::Sales(step));
}

/// Ships what stock allows against the open orders, oldest first, one delivery per order.
fn ship(sim: &mut Sim, date: NaiveDate, when: When) {
    let open: Vec<usize> = (0..sim.book.orders.len())
        .filter(|k| {
            sim.book
                .orders
                .get(*k)
                .is_some_and(|o| o.live && o.lines.iter().any(|l| l.open > Decimal::ZERO))
        })
        .collect();
    let mut returned = false;
    for (j, key) in open.into_iter().enumerate() {
        let Some(order) = sim.book.orders.get(key).cloned() else { continue };
        let on = plus(date, i64::try_from(j % 3).unwrap_or(0));
        let mut lines = Vec::new();
        let mut left = order.lines.clone();
        for (i, l) in left.iter_mut().enumerate() {
            let Some(s) = stocked(l.item) else { continue };
            let want = if order.split && !order.shipped {
                tens(l.open * Decimal::new(6, 1)).max(Decimal::TEN).min(l.open)
            } else {
                l.open
            };
            let q = want.min(sim.available(s).floor());
            if q > Decimal::ZERO {
                sim.take(s, q);
                l.open -= q;
                lines.push((i, q, s.bin));
            }
        }
        if lines.is_empty() {
            continue;
        }
        let done = left.iter().all(|l| l.open.is_zero());
        if let Some(o) = sim.book.orders.get_mut(key) {
            o.lines = left;
            o.shipped = true;
        }
        let delivery = sim.book.deliveries;
        sim.book.deliveries += 1;
        let first = lines.first().copied();
        let step = SalesStep::Delivery { key: delivery, date: on, order: key, lines };
        sim.emit(on, Step::Sales(step));

        // Twice a year a dealer or shop sends part of a delivery back.
        let (group, _) = customer(order.customer);
        let credit_note = match first {
            Some((i, qty, _))
                if (when.is(6, 0) || when.is(9, 1))
                    && !returned
                    && group != "KA"
                    && payment_days(order.customer) > 0
                    && order.customer != UNPAID =>
            {
                returned = true;
                let back = (qty / Decimal::TEN).floor().max(Decimal::TWO);
                let item = order.lines.get(i).map(|l| l.item).unwrap_or_default();
                take_back(sim, item, delivery, back, on)
            }
            _ => None,
        };
        bill(sim, order.customer, delivery, on, credit_note);

        if done {
            sim.queue(plus(on, 20), SalesStep::Close { order: key });
        } else if order.split && when.month >= 5 && !sim.book.short_closed && group == "DEALER" {
            // The customer no longer wants the rest: the order is closed short.
            sim.book.short_closed = true;
            if let Some(o) = sim.book.orders.get_mut(key) {
                o.live = false;
            }
            sim.queue(plus(on, 10), SalesStep::Close { order: key });
        }
    }
}

/// A return of `qty` of `item` from the first line of `delivery` a week after it, back to the
/// item's bin, and its credit note the day after; answers the credit note's key and date.
fn take_back(
    sim: &mut Sim,
    item: &str,
    delivery: usize,
    qty: Decimal,
    shipped: NaiveDate,
) -> Option<(usize, NaiveDate)> {
    let s = stocked(item)?;
    let date = plus(shipped, 7);
    let key = sim.book.returns;
    sim.book.returns += 1;
    sim.put_back(s, qty);
    let bin = s.bin;
    sim.emit(date, Step::Sales(SalesStep::Return { key, date, delivery, line: 0, qty, bin }));
    let cn = sim.book.credit_notes;
    sim.book.credit_notes += 1;
    let cn_date = plus(date, 1);
    sim.queue(cn_date, SalesStep::CreditNote { key: cn, date: cn_date, ret: key });
    Some((cn, cn_date))
}

/// Invoices a delivery: key accounts at the end of the month, everyone else within two days.
fn bill(
    sim: &mut Sim,
    who: &'static str,
    delivery: usize,
    shipped: NaiveDate,
    credit_note: Option<(usize, NaiveDate)>,
) {
    if customer(who).0 == "KA" && credit_note.is_none() {
        sim.book.monthly.entry((who, month_start(shipped))).or_default().push(delivery);
        return;
    }
    let date = plus(shipped, sim.book.rng.random_range(0..=2));
    invoice(sim, who, vec![delivery], date, credit_note);
}

/// Invoices the key accounts' deliveries of every month before `month`.
fn invoice_months_before(sim: &mut Sim, month: NaiveDate) {
    let due: Vec<(&'static str, NaiveDate)> =
        sim.book.monthly.keys().filter(|(_, m)| *m < month).copied().collect();
    for k in due {
        if let Some(deliveries) = sim.book.monthly.remove(&k) {
            let date = month_end(k.1).min(plus(ANCHOR, -1));
            invoice(sim, k.0, deliveries, date, None);
        }
    }
}

/// Queues an invoice and the receipts that will pay it.
fn invoice(
    sim: &mut Sim,
    who: &'static str,
    deliveries: Vec<usize>,
    date: NaiveDate,
    credit_note: Option<(usize, NaiveDate)>,
) {
    let key = sim.book.invoices;
    sim.book.invoices += 1;
    sim.queue(date, SalesStep::Invoice { key, date, deliveries });
    let due = plus(date, i64::try_from(payment_days(who)).unwrap_or(0));
    let rng = &mut sim.book.rng;
    let receipt = |date, settles| SalesStep::Receipt { date, customer: who, settles };
    let inv = Settles::Invoice(key);
    if let Some((cn, cn_date)) = credit_note {
        let paid = plus(due, rng.random_range(-5..=5)).max(plus(cn_date, 1));
        sim.queue(
            paid,
            receipt(paid, vec![(inv, Share::Rest), (Settles::CreditNote(cn), Share::Rest)]),
        );
        return;
    }
    if who == UNPAID && date.month() == 8 && !sim.book.unpaid_planned {
        // Never paid: overdue by the end of the year.
        sim.book.unpaid_planned = true;
        return;
    }
    if who == "C003" && date.month() == 10 && !sim.book.partly_paid_planned {
        sim.book.partly_paid_planned = true;
        sim.queue(due, receipt(due, vec![(inv, Share::Percent(50))]));
        return;
    }
    if who == NEAR_LIMIT {
        // Pays two to three months late: its receivables pile up towards its limit.
        let paid = plus(due, rng.random_range(60..=90));
        sim.queue(paid, receipt(paid, vec![(inv, Share::Rest)]));
        return;
    }
    if payment_days(who) > 0 && rng.random_range(0..12) == 0 {
        // Paid in two parts.
        let first = plus(due, -2);
        let second = plus(due, 25);
        sim.queue(first, receipt(first, vec![(inv, Share::Percent(40))]));
        sim.queue(second, receipt(second, vec![(inv, Share::Rest)]));
        return;
    }
    let offset =
        if payment_days(who) == 0 { rng.random_range(0..=3) } else { rng.random_range(-8..=6) };
    let paid = plus(due, offset).max(date);
    sim.queue(paid, receipt(paid, vec![(inv, Share::Rest)]));
}

/// The last days before the anchor: the key accounts' last month is invoiced, an order is
/// still being written, one waits for approval over the credit limit, and a quotation is in
/// draft.
pub(crate) fn finish(sim: &mut Sim) {
    let day = |n: i64| plus(ANCHOR, -n);
    let lines =
        vec![planned("FAN-F16", Decimal::from(150)), planned("FAN-D12", Decimal::from(200))];
    take_order(sim, day(3), "C002", lines, false, Fate::Draft);
    let lines =
        vec![planned("FAN-F18", Decimal::from(300)), planned("FAN-F16", Decimal::from(200))];
    take_order(sim, day(2), NEAR_LIMIT, lines, false, Fate::Submitted);
    quote(sim, day(1), "C006", vec![planned("FAN-C52", Decimal::from(20))], Fate::Draft);
    invoice_months_before(sim, ANCHOR);
}

// ---------------------------------------------------------------------------------------
// Posting

/// The demo users who do the sales work, as the store sees them.
#[derive(Debug, Clone)]
pub struct Actors {
    /// The warehouse manager: stock documents, deliveries and returns.
    pub warehouse: Actor,
    /// The salesperson: quotations and orders.
    pub sales: Actor,
    /// The sales manager: approves quotations and orders, closes orders.
    pub sales_manager: Actor,
    /// The finance manager: invoices, credit notes and receipts.
    pub finance: Actor,
}

impl Actors {
    /// The demo users of those roles, which must exist.
    pub async fn find(db: &Db) -> Result<Actors, DemoError> {
        let all = users::list_users(db).await?;
        let actor = |name: &str, role: &str| {
            all.iter()
                .find(|u| u.username == name)
                .map(|u| Actor { user_id: u.id, roles: vec![role.to_owned()] })
                .ok_or_else(|| DemoError::Invalid {
                    kind: "user",
                    errors: format!("{name} missing"),
                })
        };
        Ok(Actors {
            warehouse: actor("warehouse.manager", "warehouse_manager")?,
            sales: actor("salesperson", "salesperson")?,
            sales_manager: actor("sales.manager", "sales_manager")?,
            finance: actor("finance.manager", "finance_manager")?,
        })
    }
}

/// Runs `load` with the overdue check of credit control switched off, then puts the settings
/// back. Credit control measures how overdue an invoice is against today's date, so replaying
/// a year of history would find every invoice of the year "overdue" at the moment a later
/// order is submitted, although it was paid on time in the history's own calendar.
pub(crate) async fn with_history_settings<T>(
    db: &Db,
    load: impl Future<Output = Result<T, DemoError>>,
) -> Result<T, DemoError> {
    let before = papilio_store::sales::settings(db).await?;
    let relaxed = SalesSettings { overdue_days: 3650, ..before.clone() };
    let relaxed = papilio_store::sales::save_settings(db, &relaxed).await?;
    let out = load.await?;
    papilio_store::sales::save_settings(db, &SalesSettings { version: relaxed.version, ..before })
        .await?;
    Ok(out)
}

/// Posts sales steps, remembering what each key became.
pub struct Loader<'a> {
    db: &'a Db,
    actors: &'a Actors,
    types: Vec<Arc<DocType>>,
    quotations: HashMap<usize, Document>,
    orders: HashMap<usize, Document>,
    deliveries: HashMap<usize, Document>,
    returns: HashMap<usize, Document>,
    invoices: HashMap<usize, Document>,
    credit_notes: HashMap<usize, Document>,
    /// What is still open of each invoice and credit note, by document id.
    open: HashMap<i64, Decimal>,
    /// Documents created per type.
    pub counts: BTreeMap<&'static str, u64>,
}

fn missing(what: &str, key: usize) -> DemoError {
    DemoError::Invalid { kind: "document", errors: format!("planned {what} {key} was not created") }
}

fn got<'m>(
    map: &'m HashMap<usize, Document>,
    what: &str,
    key: usize,
) -> Result<&'m Document, DemoError> {
    map.get(&key).ok_or_else(|| missing(what, key))
}

fn line_id(doc: &Document, i: usize) -> Result<i64, DemoError> {
    doc.lines.get(i).map(|l| l.id).ok_or_else(|| DemoError::Invalid {
        kind: "document",
        errors: format!("{} has no line {i}", doc.number),
    })
}

fn trade_line(l: &PlannedLine, source: Option<i64>) -> DraftLine {
    let mut line = DraftLine {
        item: Some(l.item.to_owned()),
        quantity: l.qty,
        unit: Some("PCS".to_owned()),
        unit_price: l.unit_price,
        source_line_id: source,
        ..DraftLine::default()
    };
    line.trade.promised_date = l.promised;
    line.trade.discount_pct = l.discount_pct;
    line
}

fn pushed(source: i64, qty: Decimal, bin: Option<&str>) -> DraftLine {
    let mut line =
        DraftLine { quantity: qty, source_line_id: Some(source), ..DraftLine::default() };
    line.stock.bin = bin.map(str::to_owned);
    line
}

impl<'a> Loader<'a> {
    /// A loader posting as `actors`.
    pub fn new(db: &'a Db, actors: &'a Actors) -> Loader<'a> {
        Loader {
            db,
            actors,
            types: papilio_store::document_types().into_iter().map(Arc::new).collect(),
            quotations: HashMap::new(),
            orders: HashMap::new(),
            deliveries: HashMap::new(),
            returns: HashMap::new(),
            invoices: HashMap::new(),
            credit_notes: HashMap::new(),
            open: HashMap::new(),
            counts: BTreeMap::new(),
        }
    }

    /// Posts one step.
    pub async fn run(&mut self, step: &SalesStep) -> Result<(), DemoError> {
        let actors = self.actors;
        match step {
            SalesStep::Quotation { key, date, customer, lines, fate } => {
                let draft = header(*date, customer, lines.iter().map(|l| trade_line(l, None)));
                let doc = self
                    .post("sales_quotation", &draft, &actors.sales, &actors.sales_manager, *fate)
                    .await?;
                self.quotations.insert(*key, doc);
            }
            SalesStep::Order { key, date, customer, quotation, lines, fate } => {
                let quoted =
                    quotation.map(|q| got(&self.quotations, "quotation", q)).transpose()?;
                let mut out = Vec::new();
                for (i, l) in lines.iter().enumerate() {
                    let source = quoted.map(|q| line_id(q, i)).transpose()?;
                    out.push(trade_line(l, source));
                }
                let draft = header(*date, customer, out);
                let doc = self
                    .post("sales_order", &draft, &actors.sales, &actors.sales_manager, *fate)
                    .await?;
                self.orders.insert(*key, doc);
            }
            SalesStep::Delivery { key, date, order, lines } => {
                let o = got(&self.orders, "order", *order)?;
                let mut out = Vec::new();
                for (i, qty, bin) in lines {
                    out.push(pushed(line_id(o, *i)?, *qty, Some(bin)));
                }
                let partner = o.partner.clone().unwrap_or_default();
                let draft = header(*date, &partner, out);
                let w = &actors.warehouse;
                let doc = self.post("sales_delivery", &draft, w, w, Fate::Approved).await?;
                self.deliveries.insert(*key, doc);
            }
            SalesStep::Return { key, date, delivery, line, qty, bin } => {
                let d = got(&self.deliveries, "delivery", *delivery)?;
                let partner = d.partner.clone().unwrap_or_default();
                let draft = header(*date, &partner, [pushed(line_id(d, *line)?, *qty, Some(bin))]);
                let w = &actors.warehouse;
                let doc = self.post("sales_return", &draft, w, w, Fate::Approved).await?;
                self.returns.insert(*key, doc);
            }
            SalesStep::Invoice { key, date, deliveries } => {
                let mut out = Vec::new();
                let mut partner = String::new();
                for d in deliveries {
                    let d = got(&self.deliveries, "delivery", *d)?;
                    partner = d.partner.clone().unwrap_or_default();
                    out.extend(d.lines.iter().map(|l| pushed(l.id, l.quantity, None)));
                }
                let draft = header(*date, &partner, out);
                let f = &actors.finance;
                let doc = self.post("sales_invoice", &draft, f, f, Fate::Approved).await?;
                self.open.insert(doc.id, doc.total());
                self.invoices.insert(*key, doc);
            }
            SalesStep::CreditNote { key, date, ret } => {
                let r = got(&self.returns, "return", *ret)?;
                let partner = r.partner.clone().unwrap_or_default();
                let out = r.lines.iter().map(|l| pushed(l.id, l.quantity, None));
                let draft = header(*date, &partner, out);
                let f = &actors.finance;
                let doc = self.post("sales_credit_note", &draft, f, f, Fate::Approved).await?;
                self.open.insert(doc.id, doc.total());
                self.credit_notes.insert(*key, doc);
            }
            SalesStep::Receipt { date, customer, settles } => {
                let mut out = Vec::new();
                let mut paid = Vec::new();
                for (what, share) in settles {
                    let doc = match what {
                        Settles::Invoice(k) => got(&self.invoices, "invoice", *k)?,
                        Settles::CreditNote(k) => got(&self.credit_notes, "credit note", *k)?,
                    };
                    let open = self.open.get(&doc.id).copied().unwrap_or_default();
                    let amount = match share {
                        Share::Rest => open,
                        Share::Percent(p) => {
                            round_to(doc.total() * Decimal::from(*p) / Decimal::ONE_HUNDRED, 2)
                                .min(open)
                        }
                    };
                    if amount > Decimal::ZERO {
                        let mut line = DraftLine {
                            quantity: Decimal::ONE,
                            unit_price: Some(amount),
                            ..DraftLine::default()
                        };
                        line.trade.settles = Some(doc.id);
                        out.push(line);
                        paid.push((doc.id, amount));
                    }
                }
                if out.is_empty() {
                    return Ok(());
                }
                let draft = header(*date, customer, out);
                let f = &actors.finance;
                self.post("customer_receipt", &draft, f, f, Fate::Approved).await?;
                for (id, amount) in paid {
                    if let Some(open) = self.open.get_mut(&id) {
                        *open -= amount;
                    }
                }
            }
            SalesStep::Close { order } => {
                let id = got(&self.orders, "order", *order)?.id;
                let doc = documents::get(self.db, id).await?;
                let t = self.doc_type("sales_order")?;
                let closed =
                    act(self.db, &t, &doc, DocAction::Close, &actors.sales_manager).await?;
                self.orders.insert(*order, closed);
            }
        }
        Ok(())
    }

    fn doc_type(&self, code: &str) -> Result<Arc<DocType>, DemoError> {
        self.types
            .iter()
            .find(|t| t.code == code)
            .cloned()
            .ok_or_else(|| DemoError::Invalid { kind: "document", errors: code.to_owned() })
    }

    /// Creates a document as `creator` and takes it as far as `fate` says; the approver
    /// takes on whatever roles the approval rules asked for.
    async fn post(
        &mut self,
        code: &str,
        draft: &Draft,
        creator: &Actor,
        approver: &Actor,
        fate: Fate,
    ) -> Result<Document, DemoError> {
        let db = self.db;
        let t = self.doc_type(code)?;
        let doc = documents::create(db, &t, draft, creator).await?;
        *self.counts.entry(t.code).or_default() += 1;
        let doc = match fate {
            Fate::Draft => doc,
            Fate::Cancelled => act(db, &t, &doc, DocAction::Cancel, creator).await?,
            Fate::Submitted => act(db, &t, &doc, DocAction::Submit, creator).await?,
            Fate::Approved | Fate::Closed => {
                let doc = act(db, &t, &doc, DocAction::Submit, creator).await?;
                let mut approver = approver.clone();
                if !t.rules.is_empty() {
                    for r in documents::approval_requests(db, doc.id).await? {
                        if r.status == "open" && !approver.roles.contains(&r.role) {
                            approver.roles.push(r.role);
                        }
                    }
                }
                let doc = act(db, &t, &doc, DocAction::Approve, &approver).await?;
                if fate == Fate::Closed {
                    act(db, &t, &doc, DocAction::Close, &approver).await?
                } else {
                    doc
                }
            }
        };
        Ok(doc)
    }
}

async fn act(
    db: &Db,
    t: &DocType,
    doc: &Document,
    action: DocAction,
    actor: &Actor,
) -> Result<Document, DemoError> {
    Ok(documents::transition(db, t, doc.id, doc.version, action, actor, None).await?)
}

fn header(date: NaiveDate, partner: &str, lines: impl IntoIterator<Item = DraftLine>) -> Draft {
    Draft {
        doc_date: Some(date),
        partner: Some(partner.to_owned()),
        lines: lines.into_iter().collect(),
        ..Draft::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{self, Step};

    fn sales(steps: &[Step]) -> Vec<&SalesStep> {
        steps
            .iter()
            .filter_map(|s| match s {
                Step::Sales(s) => Some(s),
                Step::Stock(_) => None,
            })
            .collect()
    }

    #[test]
    fn every_step_refers_to_documents_posted_before_it() {
        let steps = history::plan(42, 1);
        let (mut q, mut o, mut d, mut r, mut i, mut c) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for s in sales(&steps) {
            match s {
                SalesStep::Quotation { key, .. } => q.push(*key),
                SalesStep::Order { key, quotation, .. } => {
                    assert!(quotation.is_none_or(|k| q.contains(&k)));
                    o.push(*key);
                }
                SalesStep::Delivery { key, order, .. } => {
                    assert!(o.contains(order));
                    d.push(*key);
                }
                SalesStep::Return { key, delivery, .. } => {
                    assert!(d.contains(delivery));
                    r.push(*key);
                }
                SalesStep::Invoice { key, deliveries, .. } => {
                    assert!(deliveries.iter().all(|k| d.contains(k)));
                    i.push(*key);
                }
                SalesStep::CreditNote { key, ret, .. } => {
                    assert!(r.contains(ret));
                    c.push(*key);
                }
                SalesStep::Receipt { settles, date, .. } => {
                    assert!(*date < ANCHOR);
                    for (what, _) in settles {
                        match what {
                            Settles::Invoice(k) => assert!(i.contains(k)),
                            Settles::CreditNote(k) => assert!(c.contains(k)),
                        }
                    }
                }
                SalesStep::Close { order } => assert!(o.contains(order)),
            }
        }
        assert!(o.len() > 60, "{} orders", o.len());
        assert!(d.len() >= o.len() - 10, "{} deliveries", d.len());
        assert_eq!(r.len(), 2);
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn the_price_rows_are_valid() {
        for (def, rows) in master_plan() {
            for r in &rows {
                let input: papilio_core::schema::RawInput =
                    r.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
                let checked = papilio_core::schema::validate(def, &input, false);
                assert!(checked.is_ok(), "{}: {r:?}: {checked:?}", def.kind);
            }
        }
    }
}
