//! Sales rules that need no database: credit control 信用管理, the delivery-date promise
//! (available to promise), the cost estimate of a quotation line 接单成本预评估, margins and
//! receivables ageing.

use chrono::{Days, NaiveDate};
use rust_decimal::Decimal;

use crate::value::round_to;

/// What a customer owes or is about to owe, in the customer's currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Exposure {
    /// Invoices not yet paid, less open credit notes.
    pub receivables: Decimal,
    /// Approved orders not yet delivered.
    pub undelivered: Decimal,
    /// Delivered goods not yet invoiced.
    pub uninvoiced: Decimal,
}

impl Exposure {
    /// The three together.
    pub fn total(&self) -> Decimal {
        self.receivables + self.undelivered + self.uninvoiced
    }
}

/// Why credit control objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreditBreach {
    /// Exposure plus this document would exceed the limit.
    OverLimit {
        /// The limit (the customer's, else its group's).
        limit: Decimal,
        /// Exposure before this document.
        exposure: Decimal,
        /// What this document adds.
        adds: Decimal,
    },
    /// An invoice is overdue by more days than allowed.
    Overdue {
        /// Days the oldest invoice is overdue.
        days: i64,
        /// The allowed number of days.
        allowed: i64,
    },
}

/// Checks credit: `adds` is what the document adds to the exposure (zero when it only moves
/// an amount from one bucket to another, as a delivery does). With no limit there is no
/// limit check; the overdue check applies whenever an invoice is overdue beyond `allowed_days`.
pub fn check_credit(
    limit: Option<Decimal>,
    exposure: Exposure,
    adds: Decimal,
    oldest_overdue_days: Option<i64>,
    allowed_days: i64,
) -> Vec<CreditBreach> {
    let mut out = Vec::new();
    if let Some(limit) = limit
        && exposure.total() + adds > limit
    {
        out.push(CreditBreach::OverLimit { limit, exposure: exposure.total(), adds });
    }
    if let Some(days) = oldest_overdue_days
        && days > allowed_days
    {
        out.push(CreditBreach::Overdue { days, allowed: allowed_days });
    }
    out
}

/// Where a promised date comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromiseBasis {
    /// Stock on hand, less what is reserved, covers it today.
    OnHand,
    /// A scheduled receipt on that date makes it available.
    ScheduledReceipt,
    /// Nothing covers it: today plus the item's lead time.
    LeadTime,
}

impl PromiseBasis {
    /// Stable code for the message catalogue.
    pub fn code(self) -> &'static str {
        match self {
            PromiseBasis::OnHand => "on_hand",
            PromiseBasis::ScheduledReceipt => "scheduled_receipt",
            PromiseBasis::LeadTime => "lead_time",
        }
    }
}

/// A delivery-date promise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Promise {
    /// The earliest date the quantity is available.
    pub date: NaiveDate,
    /// Why.
    pub basis: PromiseBasis,
    /// Available to promise today (on hand less reserved, never below zero).
    pub available_now: Decimal,
}

/// Available to promise: the earliest date on which on hand − reserved + the scheduled
/// receipts due by then covers `qty` (receipts dated in the past count from today); when they
/// never do, today plus `lead_time_days`.
pub fn promise(
    qty: Decimal,
    on_hand: Decimal,
    reserved: Decimal,
    receipts: &[(NaiveDate, Decimal)],
    today: NaiveDate,
    lead_time_days: u64,
) -> Promise {
    let now = on_hand - reserved;
    let available_now = now.max(Decimal::ZERO);
    let mut sorted: Vec<(NaiveDate, Decimal)> =
        receipts.iter().map(|(d, q)| ((*d).max(today), *q)).collect();
    sorted.sort();
    let mut running = now;
    // Receipts already due today count as available today, but not as "on hand".
    if running >= qty {
        return Promise { date: today, basis: PromiseBasis::OnHand, available_now };
    }
    for (date, q) in sorted {
        running += q;
        if running >= qty {
            return Promise { date, basis: PromiseBasis::ScheduledReceipt, available_now };
        }
    }
    let date = today.checked_add_days(Days::new(lead_time_days)).unwrap_or(today);
    Promise { date, basis: PromiseBasis::LeadTime, available_now }
}

/// Where an expected unit cost comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CostBasis {
    /// The average actual issue cost over the last months, from the stock ledger.
    History,
    /// The standard cost roll-up of the item's bill of materials.
    Rollup,
    /// The item's standard cost.
    Standard,
}

impl CostBasis {
    /// Stable code for storage and the message catalogue.
    pub fn code(self) -> &'static str {
        match self {
            CostBasis::History => "history",
            CostBasis::Rollup => "rollup",
            CostBasis::Standard => "standard",
        }
    }

    /// The basis stored under `code`.
    pub fn from_code(code: &str) -> Option<CostBasis> {
        match code {
            "history" => Some(CostBasis::History),
            "rollup" => Some(CostBasis::Rollup),
            "standard" => Some(CostBasis::Standard),
            _ => None,
        }
    }
}

/// The expected unit cost of a line: history when the item was issued in the window (issued
/// value ÷ issued quantity), else the roll-up when there is one, else the standard cost.
pub fn expected_cost(
    issued: Option<(Decimal, Decimal)>,
    rollup: Option<Decimal>,
    standard: Decimal,
) -> (Decimal, CostBasis) {
    if let Some((qty, value)) = issued
        && qty > Decimal::ZERO
    {
        return (round_to(value / qty, 4), CostBasis::History);
    }
    match rollup {
        Some(cost) => (cost, CostBasis::Rollup),
        None => (standard, CostBasis::Standard),
    }
}

/// Margin and margin percentage of `revenue` over `cost` (no percentage without revenue).
pub fn margin(revenue: Decimal, cost: Decimal) -> (Decimal, Option<Decimal>) {
    let m = revenue - cost;
    let pct = (!revenue.is_zero()).then(|| round_to(m * Decimal::ONE_HUNDRED / revenue, 2));
    (m, pct)
}

/// The receivables ageing buckets: not yet due, 1–30, 31–60, 61–90 and over 90 days overdue.
pub const AGEING_BUCKETS: [&str; 5] = ["current", "1_30", "31_60", "61_90", "over_90"];

/// The bucket index of an item due on `due` as of `today`.
pub fn ageing_bucket(due: NaiveDate, today: NaiveDate) -> usize {
    let overdue = (today - due).num_days();
    match overdue {
        i64::MIN..=0 => 0,
        1..=30 => 1,
        31..=60 => 2,
        61..=90 => 3,
        _ => 4,
    }
}

/// Attainment of a target in percent (none without a target).
pub fn attainment(actual: Decimal, target: Decimal) -> Option<Decimal> {
    (target > Decimal::ZERO).then(|| round_to(actual * Decimal::ONE_HUNDRED / target, 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn credit_limit_and_overdue() {
        let e = Exposure {
            receivables: dec!(40000),
            undelivered: dec!(30000),
            uninvoiced: dec!(10000),
        };
        assert_eq!(e.total(), dec!(80000));
        assert!(check_credit(Some(dec!(100000)), e, dec!(20000), None, 30).is_empty());
        assert_eq!(
            check_credit(Some(dec!(100000)), e, dec!(20000.01), Some(31), 30),
            vec![
                CreditBreach::OverLimit {
                    limit: dec!(100000),
                    exposure: dec!(80000),
                    adds: dec!(20000.01)
                },
                CreditBreach::Overdue { days: 31, allowed: 30 },
            ]
        );
        // A delivery adds nothing, but an exposure already over the limit is still caught.
        let over = Exposure { undelivered: dec!(120000), ..e };
        assert_eq!(check_credit(Some(dec!(100000)), over, Decimal::ZERO, None, 30).len(), 1);
        assert!(check_credit(None, over, dec!(1), Some(30), 30).is_empty());
    }

    #[test]
    fn promise_from_stock_receipts_or_lead_time() {
        let today = d(2026, 12, 3);
        let receipts =
            [(d(2026, 12, 10), dec!(50)), (d(2026, 11, 30), dec!(5)), (d(2026, 12, 20), dec!(100))];
        // On hand 40, reserved 15: 25 available now.
        let p = promise(dec!(25), dec!(40), dec!(15), &receipts, today, 14);
        assert_eq!((p.date, p.basis, p.available_now), (today, PromiseBasis::OnHand, dec!(25)));
        // 30 needs the overdue receipt (counted today): 25 + 5.
        let p = promise(dec!(30), dec!(40), dec!(15), &receipts, today, 14);
        assert_eq!((p.date, p.basis), (today, PromiseBasis::ScheduledReceipt));
        // 80 needs the receipt of the 10th: 25 + 5 + 50.
        assert_eq!(
            promise(dec!(80), dec!(40), dec!(15), &receipts, today, 14).date,
            d(2026, 12, 10)
        );
        assert_eq!(
            promise(dec!(81), dec!(40), dec!(15), &receipts, today, 14).date,
            d(2026, 12, 20)
        );
        let p = promise(dec!(181), dec!(40), dec!(15), &receipts, today, 14);
        assert_eq!((p.date, p.basis), (d(2026, 12, 17), PromiseBasis::LeadTime));
        // Over-reserved stock: nothing available now.
        assert_eq!(promise(dec!(1), dec!(5), dec!(9), &[], today, 0).available_now, dec!(0));
    }

    #[test]
    fn expected_cost_prefers_history_then_rollup() {
        assert_eq!(
            expected_cost(Some((dec!(30), dec!(1000))), Some(dec!(40)), dec!(50)),
            (dec!(33.3333), CostBasis::History)
        );
        assert_eq!(
            expected_cost(Some((dec!(0), dec!(0))), Some(dec!(40)), dec!(50)),
            (dec!(40), CostBasis::Rollup)
        );
        assert_eq!(expected_cost(None, None, dec!(50)), (dec!(50), CostBasis::Standard));
        assert_eq!(margin(dec!(200), dec!(150)), (dec!(50), Some(dec!(25))));
        assert_eq!(margin(dec!(0), dec!(10)), (dec!(-10), None));
    }

    #[test]
    fn ageing_buckets_by_days_overdue() {
        let today = d(2026, 12, 3);
        assert_eq!(ageing_bucket(d(2026, 12, 3), today), 0);
        assert_eq!(ageing_bucket(d(2026, 12, 2), today), 1);
        assert_eq!(ageing_bucket(d(2026, 11, 3), today), 1);
        assert_eq!(ageing_bucket(d(2026, 11, 2), today), 2);
        assert_eq!(ageing_bucket(d(2026, 9, 4), today), 3);
        assert_eq!(ageing_bucket(d(2026, 9, 3), today), 4);
        assert_eq!(attainment(dec!(75), dec!(200)), Some(dec!(37.5)));
        assert_eq!(attainment(dec!(75), dec!(0)), None);
    }

    proptest! {
        #[test]
        fn a_promise_is_never_before_today_and_grows_with_quantity(
            on_hand in 0i64..1000, reserved in 0i64..1000, q1 in 1i64..2000, q2 in 1i64..2000,
            receipts in proptest::collection::vec((0u64..60, 1i64..500), 0..8),
        ) {
            let today = d(2026, 12, 3);
            let receipts: Vec<(NaiveDate, Decimal)> = receipts
                .iter()
                .map(|(days, q)| (d(2026, 11, 20).checked_add_days(Days::new(*days)).unwrap(), Decimal::from(*q)))
                .collect();
            let (small, large) = (q1.min(q2), q1.max(q2));
            let a = promise(Decimal::from(small), Decimal::from(on_hand), Decimal::from(reserved), &receipts, today, 400);
            let b = promise(Decimal::from(large), Decimal::from(on_hand), Decimal::from(reserved), &receipts, today, 400);
            prop_assert!(a.date >= today);
            prop_assert!(a.date <= b.date);
        }
    }
}
