//! Sales pricing 价格政策: which list price a line gets, which discount, and why.
//!
//! The rules, in the order they apply (the same order the price simulation page prints):
//!
//! 1. **List price.** Candidates are the price entries for the item in the order's currency
//!    that are valid on the date (inside their window, and on their weekday or in their last
//!    days of the month when they are periodic) and whose quantity break is at most the
//!    quantity ordered. The most specific level that has a candidate wins: the customer's own
//!    prices, else its group's, else the base list. Within that level a special beats a
//!    regular price, then the largest quantity break, then the latest start date, then the
//!    smallest code. No candidate means no price: the line needs one typed in.
//! 2. **Discount.** A special price is net: it takes no discount. Otherwise the line gets the
//!    single largest discount it qualifies for (discounts never stack) among the policies valid
//!    on the date for its customer group, its item category, or an order amount the order
//!    reaches. Ties go to the smallest code. A discount typed on the line replaces the policy.
//! 3. **Net price** = list price less the percentage, less the amount per unit, never below
//!    zero, rounded half away from zero to [`PRICE_PLACES`] places. The line amount is quantity
//!    × net price rounded to the currency; an order's total is the sum of its line amounts.
//!
//! Quantities and prices here are per the item's base unit; storage converts the line's unit.

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;

use crate::value::round_to;

/// Decimal places of a net unit price.
pub const PRICE_PLACES: u32 = 4;

/// Where a price entry applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PriceLevel {
    /// Every customer.
    Base,
    /// Customers of one group.
    Group(String),
    /// One customer.
    Customer(String),
}

impl PriceLevel {
    fn rank(&self) -> u8 {
        match self {
            PriceLevel::Base => 0,
            PriceLevel::Group(_) => 1,
            PriceLevel::Customer(_) => 2,
        }
    }

    /// `base`, `group` or `customer`, as the explanation names it.
    pub fn code(&self) -> &'static str {
        match self {
            PriceLevel::Base => "base",
            PriceLevel::Group(_) => "group",
            PriceLevel::Customer(_) => "customer",
        }
    }
}

/// When a periodic special applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recurrence {
    /// On one weekday, 1 = Monday … 7 = Sunday.
    Weekday(u32),
    /// On the last `n` days of each month.
    LastDaysOfMonth(u32),
}

impl Recurrence {
    /// Whether `date` is one of its days.
    pub fn matches(self, date: NaiveDate) -> bool {
        match self {
            Recurrence::Weekday(d) => date.weekday().number_from_monday() == d,
            Recurrence::LastDaysOfMonth(n) => {
                let days = days_in_month(date);
                date.day() + n > days
            }
        }
    }
}

fn days_in_month(date: NaiveDate) -> u32 {
    let first = date.with_day(1).unwrap_or(date);
    first
        .checked_add_months(chrono::Months::new(1))
        .and_then(|next| next.pred_opt())
        .map_or(31, |last| last.day())
}

/// A validity window; open ends allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Window {
    /// First day it applies.
    pub from: Option<NaiveDate>,
    /// Last day it applies.
    pub to: Option<NaiveDate>,
}

impl Window {
    /// Whether `date` is inside.
    pub fn contains(self, date: NaiveDate) -> bool {
        self.from.is_none_or(|f| f <= date) && self.to.is_none_or(|t| date <= t)
    }
}

/// One row of a price list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceEntry {
    /// Its code, quoted as the reason.
    pub code: String,
    /// Item code.
    pub item: String,
    /// Currency code.
    pub currency: String,
    /// Who it applies to.
    pub level: PriceLevel,
    /// Smallest quantity it applies from (quantity break).
    pub min_qty: Decimal,
    /// Price per base unit.
    pub price: Decimal,
    /// When it applies.
    pub window: Window,
    /// A special (promotion) rather than a regular price.
    pub special: bool,
    /// For periodic specials: which days.
    pub recurrence: Option<Recurrence>,
}

/// What a discount policy is granted for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscountBasis {
    /// Customers of a group.
    CustomerGroup(String),
    /// Items of a category.
    ItemCategory(String),
    /// Orders whose amount before discount reaches this much (in the policy's currency).
    OrderAmount(Decimal),
}

/// A discount policy 折扣政策.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscountPolicy {
    /// Its code, quoted as the reason.
    pub code: String,
    /// What qualifies.
    pub basis: DiscountBasis,
    /// Percentage off the list price.
    pub percent: Option<Decimal>,
    /// Amount off per base unit (then the order must be in `currency`).
    pub amount: Option<Decimal>,
    /// Currency of `amount` and of an order-amount threshold.
    pub currency: Option<String>,
    /// When it applies.
    pub window: Window,
}

/// What is being priced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceRequest {
    /// Item code.
    pub item: String,
    /// The item's category.
    pub category: Option<String>,
    /// Customer code.
    pub customer: String,
    /// The customer's group.
    pub group: Option<String>,
    /// Order currency.
    pub currency: String,
    /// Quantity in base units.
    pub qty: Decimal,
    /// Pricing date.
    pub date: NaiveDate,
    /// The order's amount at list prices, for order-amount discounts.
    pub order_amount: Decimal,
    /// A discount percentage typed on the line, replacing the policies.
    pub manual_discount_pct: Option<Decimal>,
}

/// How a discount came about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscountSource {
    /// No discount applies.
    None,
    /// The list price is a special: net, no discount.
    SpecialIsNet,
    /// A policy, by code.
    Policy(String),
    /// Typed on the line.
    Manual,
}

/// The answer: a price and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceAnswer {
    /// List price per base unit.
    pub list_price: Decimal,
    /// The entry that gave it.
    pub price_entry: String,
    /// Its level.
    pub level: &'static str,
    /// Whether it is a special.
    pub special: bool,
    /// Percentage off.
    pub discount_pct: Decimal,
    /// Amount off per unit.
    pub discount_amount: Decimal,
    /// Where the discount came from.
    pub discount: DiscountSource,
    /// Net price per base unit.
    pub net_price: Decimal,
}

impl PriceAnswer {
    /// The discount as a share of the list price, in percent (what a maximum discount caps).
    pub fn effective_discount_pct(&self) -> Decimal {
        if self.list_price.is_zero() {
            return Decimal::ZERO;
        }
        round_to((self.list_price - self.net_price) * Decimal::ONE_HUNDRED / self.list_price, 4)
    }
}

/// Why no price could be found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PriceError {
    /// No entry for the item, currency, date and quantity.
    NoPrice,
}

fn entry_applies(e: &PriceEntry, r: &PriceRequest) -> bool {
    entry_skip_reason(e, r).is_none()
}

/// Why entry `e` does not apply to `r` (`other_item`, `other_currency`, `other_level`,
/// `below_break`, `outside_window`, `not_its_day`), or `None` when it does.
pub fn entry_skip_reason(e: &PriceEntry, r: &PriceRequest) -> Option<&'static str> {
    let level_fits = match &e.level {
        PriceLevel::Base => true,
        PriceLevel::Group(g) => r.group.as_deref() == Some(g.as_str()),
        PriceLevel::Customer(c) => *c == r.customer,
    };
    if e.item != r.item {
        Some("other_item")
    } else if e.currency != r.currency {
        Some("other_currency")
    } else if !level_fits {
        Some("other_level")
    } else if e.min_qty > r.qty {
        Some("below_break")
    } else if !e.window.contains(r.date) {
        Some("outside_window")
    } else if !e.recurrence.is_none_or(|rec| rec.matches(r.date)) {
        Some("not_its_day")
    } else {
        None
    }
}

/// Why policy `p` does not apply to `r` (`outside_window`, `not_qualified`), or `None`.
pub fn policy_skip_reason(p: &DiscountPolicy, r: &PriceRequest) -> Option<&'static str> {
    if !p.window.contains(r.date) {
        Some("outside_window")
    } else if !policy_applies(p, r) {
        Some("not_qualified")
    } else {
        None
    }
}

/// The list price entry rule 1 picks, if any.
pub fn pick_entry<'a>(entries: &'a [PriceEntry], r: &PriceRequest) -> Option<&'a PriceEntry> {
    entries.iter().filter(|e| entry_applies(e, r)).min_by(|a, b| {
        // "Smaller" is better: higher rank, special, larger break, later start, smaller code.
        b.level
            .rank()
            .cmp(&a.level.rank())
            .then(b.special.cmp(&a.special))
            .then(b.min_qty.cmp(&a.min_qty))
            .then(b.window.from.cmp(&a.window.from))
            .then(a.code.cmp(&b.code))
    })
}

fn policy_applies(p: &DiscountPolicy, r: &PriceRequest) -> bool {
    if !p.window.contains(r.date) {
        return false;
    }
    let currency_fits = p.currency.as_deref().is_none_or(|c| c == r.currency);
    match &p.basis {
        DiscountBasis::CustomerGroup(g) => {
            r.group.as_deref() == Some(g.as_str()) && (p.amount.is_none() || currency_fits)
        }
        DiscountBasis::ItemCategory(c) => {
            r.category.as_deref() == Some(c.as_str()) && (p.amount.is_none() || currency_fits)
        }
        DiscountBasis::OrderAmount(min) => currency_fits && r.order_amount >= *min,
    }
}

fn net(list: Decimal, pct: Decimal, amount: Decimal) -> Decimal {
    let off = list * pct / Decimal::ONE_HUNDRED + amount;
    round_to((list - off).max(Decimal::ZERO), PRICE_PLACES)
}

/// Prices one line by the rules in the module documentation.
pub fn price(
    entries: &[PriceEntry],
    policies: &[DiscountPolicy],
    r: &PriceRequest,
) -> Result<PriceAnswer, PriceError> {
    let entry = pick_entry(entries, r).ok_or(PriceError::NoPrice)?;
    let list = entry.price;
    let mut answer = PriceAnswer {
        list_price: list,
        price_entry: entry.code.clone(),
        level: entry.level.code(),
        special: entry.special,
        discount_pct: Decimal::ZERO,
        discount_amount: Decimal::ZERO,
        discount: DiscountSource::None,
        net_price: round_to(list, PRICE_PLACES),
    };
    if let Some(pct) = r.manual_discount_pct {
        answer.discount_pct = pct.clamp(Decimal::ZERO, Decimal::ONE_HUNDRED);
        answer.discount = DiscountSource::Manual;
        answer.net_price = net(list, answer.discount_pct, Decimal::ZERO);
        return Ok(answer);
    }
    if entry.special {
        answer.discount = DiscountSource::SpecialIsNet;
        return Ok(answer);
    }
    let best = policies.iter().filter(|p| policy_applies(p, r)).min_by(|a, b| {
        let net_a = net(list, a.percent.unwrap_or_default(), a.amount.unwrap_or_default());
        let net_b = net(list, b.percent.unwrap_or_default(), b.amount.unwrap_or_default());
        net_a.cmp(&net_b).then(a.code.cmp(&b.code))
    });
    if let Some(p) = best {
        answer.discount_pct = p.percent.unwrap_or_default();
        answer.discount_amount = p.amount.unwrap_or_default();
        answer.discount = DiscountSource::Policy(p.code.clone());
        answer.net_price = net(list, answer.discount_pct, answer.discount_amount);
    }
    Ok(answer)
}

/// A line amount: quantity × net price, rounded half away from zero to the currency's places.
pub fn line_amount(qty: Decimal, net_price: Decimal, currency_places: u32) -> Decimal {
    round_to(qty * net_price, currency_places)
}

/// Why a priced line needs an approver: under the item's floor, or discounted beyond the
/// customer group's maximum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PriceControl {
    /// Net price under the floor.
    UnderFloor {
        /// The floor.
        floor: Decimal,
        /// The net price.
        net: Decimal,
    },
    /// Discount beyond the group's maximum.
    OverMaxDiscount {
        /// The group's maximum, in percent.
        max_pct: Decimal,
        /// The line's discount, in percent.
        pct: Decimal,
    },
}

/// The price controls a line breaks.
pub fn controls(
    list_price: Option<Decimal>,
    net_price: Decimal,
    floor: Option<Decimal>,
    max_discount_pct: Option<Decimal>,
) -> Vec<PriceControl> {
    let mut out = Vec::new();
    if let Some(floor) = floor
        && net_price < floor
    {
        out.push(PriceControl::UnderFloor { floor, net: net_price });
    }
    if let (Some(max_pct), Some(list)) = (max_discount_pct, list_price)
        && list > Decimal::ZERO
    {
        let pct = round_to((list - net_price) * Decimal::ONE_HUNDRED / list, 4);
        if pct > max_pct {
            out.push(PriceControl::OverMaxDiscount { max_pct, pct });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn entry(code: &str, level: PriceLevel, min_qty: Decimal, price: Decimal) -> PriceEntry {
        PriceEntry {
            code: code.into(),
            item: "FAN-16".into(),
            currency: "CNY".into(),
            level,
            min_qty,
            price,
            window: Window::default(),
            special: false,
            recurrence: None,
        }
    }

    fn request(qty: Decimal, date: NaiveDate) -> PriceRequest {
        PriceRequest {
            item: "FAN-16".into(),
            category: Some("FAN".into()),
            customer: "C001".into(),
            group: Some("DEALER".into()),
            currency: "CNY".into(),
            qty,
            date,
            order_amount: Decimal::ZERO,
            manual_discount_pct: None,
        }
    }

    /// The ladder of overlapping rules used by the hand-worked cases below.
    ///
    /// - B1 base 200, B100 base 180 from 100 pieces;
    /// - G1 dealer group 190 (all of 2026), G500 dealer group 170 from 500 pieces;
    /// - S-NOV base special 175 for 2026-11-20..2026-11-30;
    /// - S-FRI base special 185 every Friday;
    /// - S-END dealer group special 165 on the last three days of each month;
    /// - K1 customer C001 own price 160 from 1,000 pieces, only in December 2026;
    /// - discounts: DG dealer group 5 %, CAT fan category 3 %, BIG order amount ≥ 50,000 8 %.
    fn ladder() -> (Vec<PriceEntry>, Vec<DiscountPolicy>) {
        let dealer = || PriceLevel::Group("DEALER".into());
        let mut g1 = entry("G1", dealer(), dec!(1), dec!(190));
        g1.window = Window { from: Some(d(2026, 1, 1)), to: Some(d(2026, 12, 31)) };
        let mut s_nov = entry("S-NOV", PriceLevel::Base, dec!(1), dec!(175));
        s_nov.special = true;
        s_nov.window = Window { from: Some(d(2026, 11, 20)), to: Some(d(2026, 11, 30)) };
        let mut s_fri = entry("S-FRI", PriceLevel::Base, dec!(1), dec!(185));
        s_fri.special = true;
        s_fri.recurrence = Some(Recurrence::Weekday(5));
        let mut s_end = entry("S-END", dealer(), dec!(1), dec!(165));
        s_end.special = true;
        s_end.recurrence = Some(Recurrence::LastDaysOfMonth(3));
        let mut k1 = entry("K1", PriceLevel::Customer("C001".into()), dec!(1000), dec!(160));
        k1.window = Window { from: Some(d(2026, 12, 1)), to: Some(d(2026, 12, 31)) };
        let entries = vec![
            entry("B1", PriceLevel::Base, dec!(1), dec!(200)),
            entry("B100", PriceLevel::Base, dec!(100), dec!(180)),
            g1,
            entry("G500", dealer(), dec!(500), dec!(170)),
            s_nov,
            s_fri,
            s_end,
            k1,
        ];
        let policy = |code: &str, basis, pct| DiscountPolicy {
            code: String::from(code),
            basis,
            percent: Some(pct),
            amount: None,
            currency: None,
            window: Window::default(),
        };
        let policies = vec![
            policy("DG", DiscountBasis::CustomerGroup("DEALER".into()), dec!(5)),
            policy("CAT", DiscountBasis::ItemCategory("FAN".into()), dec!(3)),
            policy("BIG", DiscountBasis::OrderAmount(dec!(50000)), dec!(8)),
        ];
        (entries, policies)
    }

    #[test]
    fn the_ladder_worked_by_hand() {
        let (entries, policies) = ladder();
        // (date, qty, order amount, expected entry, discount, net price)
        // 2026-11-18 is a Wednesday; 11-20 a Friday; 11-28 a Saturday (in the last three days
        // of November: 28, 29, 30); 12-02 a Wednesday; 2027-01-06 a Wednesday.
        let cases: &[(NaiveDate, Decimal, Decimal, &str, &str, Decimal)] = &[
            // Group price 190 beats the base list; group discount 5 % → 180.50.
            (d(2026, 11, 18), dec!(10), dec!(1900), "G1", "DG", dec!(180.5)),
            // 500 pieces reach the group's break 170; the order amount (85,000 ≥ 50,000) earns
            // 8 %, larger than the group's 5 %: 170 × 0.92 = 156.40.
            (d(2026, 11, 18), dec!(500), dec!(85000), "G500", "BIG", dec!(156.4)),
            // A Friday: the base special does not beat a group price (group level wins).
            (d(2026, 11, 20), dec!(10), dec!(1900), "G1", "DG", dec!(180.5)),
            // Last three days of November: the group special 165 is net.
            (d(2026, 11, 28), dec!(10), dec!(1650), "S-END", "special", dec!(165)),
            // December, 1,000 pieces: the customer's own price 160, then 8 % for the order
            // amount (160,000 ≥ 50,000) → 147.20.
            (d(2026, 12, 2), dec!(1000), dec!(160000), "K1", "BIG", dec!(147.2)),
            // December, 999 pieces: below the customer's break, so the group break 170 wins;
            // 8 % beats 5 % → 156.40.
            (d(2026, 12, 2), dec!(999), dec!(169830), "G500", "BIG", dec!(156.4)),
            // 2027: the group price 190 has expired and the customer price too: base 180 from
            // 100 pieces, 5 % group discount → 171.
            (d(2027, 1, 6), dec!(100), dec!(18000), "B100", "DG", dec!(171)),
            (d(2027, 1, 6), dec!(99), dec!(19800), "B1", "DG", dec!(190)),
        ];
        for (date, qty, amount, want_entry, want_discount, want_net) in cases {
            let mut r = request(*qty, *date);
            r.order_amount = *amount;
            let a = price(&entries, &policies, &r).unwrap();
            let discount = match &a.discount {
                DiscountSource::Policy(c) => c.clone(),
                DiscountSource::SpecialIsNet => "special".into(),
                other => format!("{other:?}"),
            };
            assert_eq!(
                (a.price_entry.as_str(), discount.as_str(), a.net_price),
                (*want_entry, *want_discount, *want_net),
                "{date} × {qty}"
            );
        }
    }

    #[test]
    fn a_customer_outside_the_group_gets_the_base_list() {
        let (entries, policies) = ladder();
        let mut r = request(dec!(10), d(2026, 11, 20));
        r.group = None;
        r.category = None;
        // 11-20 is a Friday inside the November special: both specials apply, the one with
        // the later start wins.
        let a = price(&entries, &policies, &r).unwrap();
        assert_eq!((a.price_entry.as_str(), a.net_price), ("S-NOV", dec!(175)));
        // A Friday before it: the Friday special 185 beats the regular base price; it is net.
        r.date = d(2026, 11, 13);
        let a = price(&entries, &policies, &r).unwrap();
        assert_eq!((a.price_entry.as_str(), a.net_price), ("S-FRI", dec!(185)));
        assert_eq!(a.discount, DiscountSource::SpecialIsNet);
        r.date = d(2026, 11, 19);
        assert_eq!(price(&entries, &policies, &r).unwrap().price_entry, "B1");
        r.currency = "USD".into();
        assert_eq!(price(&entries, &policies, &r), Err(PriceError::NoPrice));
    }

    #[test]
    fn manual_discount_replaces_the_policy_and_amounts_round_half_up() {
        let (entries, policies) = ladder();
        let mut r = request(dec!(3), d(2026, 11, 18));
        r.manual_discount_pct = Some(dec!(12.5));
        let a = price(&entries, &policies, &r).unwrap();
        assert_eq!(a.discount, DiscountSource::Manual);
        assert_eq!(a.net_price, dec!(166.25));
        assert_eq!(a.effective_discount_pct(), dec!(12.5));
        assert_eq!(line_amount(dec!(3), dec!(0.335), 2), dec!(1.01));
        assert_eq!(line_amount(dec!(1), dec!(0.005), 2), dec!(0.01));
    }

    #[test]
    fn amount_discounts_never_go_below_zero() {
        let entries = vec![entry("B1", PriceLevel::Base, dec!(1), dec!(10))];
        let policies = vec![DiscountPolicy {
            code: "OFF".into(),
            basis: DiscountBasis::ItemCategory("FAN".into()),
            percent: None,
            amount: Some(dec!(25)),
            currency: Some("CNY".into()),
            window: Window::default(),
        }];
        let a = price(&entries, &policies, &request(dec!(1), d(2026, 1, 1))).unwrap();
        assert_eq!(a.net_price, Decimal::ZERO);
    }

    #[test]
    fn last_days_of_month_know_february() {
        let rec = Recurrence::LastDaysOfMonth(3);
        assert!(!rec.matches(d(2026, 2, 25)));
        assert!(rec.matches(d(2026, 2, 26)));
        assert!(rec.matches(d(2028, 2, 29)));
        assert!(!rec.matches(d(2028, 2, 26)));
        assert!(Recurrence::Weekday(5).matches(d(2026, 12, 4)));
    }

    #[test]
    fn controls_name_floor_and_discount() {
        let c = controls(Some(dec!(200)), dec!(150), Some(dec!(160)), Some(dec!(20)));
        assert_eq!(
            c,
            vec![
                PriceControl::UnderFloor { floor: dec!(160), net: dec!(150) },
                PriceControl::OverMaxDiscount { max_pct: dec!(20), pct: dec!(25) },
            ]
        );
        assert!(controls(Some(dec!(200)), dec!(170), Some(dec!(160)), Some(dec!(20))).is_empty());
    }

    fn arb_entries() -> impl Strategy<Value = Vec<PriceEntry>> {
        proptest::collection::vec(
            (0u8..3, 1i64..50, 1i64..100_000, any::<bool>(), 0u32..8, 0i64..60),
            1..12,
        )
        .prop_map(|rows| {
            rows.into_iter()
                .enumerate()
                .map(|(i, (level, min, price, special, weekday, start))| {
                    let level = match level {
                        0 => PriceLevel::Base,
                        1 => PriceLevel::Group("DEALER".into()),
                        _ => PriceLevel::Customer("C001".into()),
                    };
                    let mut e =
                        entry(&format!("E{i}"), level, Decimal::from(min), Decimal::new(price, 2));
                    e.special = special;
                    e.recurrence =
                        (1..=7).contains(&weekday).then_some(Recurrence::Weekday(weekday));
                    e.window.from =
                        d(2026, 1, 1).checked_add_days(chrono::Days::new(start.unsigned_abs()));
                    e
                })
                .collect()
        })
    }

    fn arb_policies() -> impl Strategy<Value = Vec<DiscountPolicy>> {
        proptest::collection::vec((0u8..3, 0i64..10_000, 0i64..5_000), 0..6).prop_map(|rows| {
            rows.into_iter()
                .enumerate()
                .map(|(i, (basis, pct, amount))| DiscountPolicy {
                    code: format!("P{i}"),
                    basis: match basis {
                        0 => DiscountBasis::CustomerGroup("DEALER".into()),
                        1 => DiscountBasis::ItemCategory("FAN".into()),
                        _ => DiscountBasis::OrderAmount(Decimal::from(amount)),
                    },
                    percent: Some(Decimal::new(pct, 2)),
                    amount: (amount % 3 == 0).then(|| Decimal::new(amount, 2)),
                    currency: None,
                    window: Window::default(),
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn pricing_is_deterministic_and_never_negative(
            entries in arb_entries(),
            policies in arb_policies(),
            qty in 1i64..100,
            day in 0u64..120,
            amount in 0i64..100_000,
        ) {
            let date = d(2026, 1, 1).checked_add_days(chrono::Days::new(day)).unwrap();
            let mut r = request(Decimal::from(qty), date);
            r.order_amount = Decimal::from(amount);
            let first = price(&entries, &policies, &r);
            let mut reversed = entries.clone();
            reversed.reverse();
            let mut policies_rev = policies.clone();
            policies_rev.reverse();
            // The same answer whatever order the rules are stored in.
            prop_assert_eq!(&first, &price(&reversed, &policies_rev, &r));
            if let Ok(a) = first {
                prop_assert!(a.net_price >= Decimal::ZERO);
                prop_assert!(a.net_price <= a.list_price);
            }
        }

        #[test]
        fn a_total_is_the_sum_of_its_rounded_lines(
            lines in proptest::collection::vec((1i64..10_000, 0i64..10_000_000), 1..30),
        ) {
            let amounts: Vec<Decimal> = lines
                .iter()
                .map(|(q, p)| line_amount(Decimal::new(*q, 2), Decimal::new(*p, 4), 2))
                .collect();
            let total: Decimal = amounts.iter().copied().sum();
            prop_assert_eq!(total.scale() <= 2, true);
            for a in &amounts {
                prop_assert!(*a >= Decimal::ZERO);
                prop_assert_eq!(a.round_dp(2), *a);
            }
        }
    }
}
