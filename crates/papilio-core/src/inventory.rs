//! Inventory rules that need no database: moving-average valuation, lot suggestions (FIFO and
//! FEFO), stock alerts, ageing buckets, turnover and ABC classes.
//!
//! Storage applies these inside the posting transaction; reports apply them to what storage
//! reads. Quantities are in the item's base unit; values are in the base currency.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::value::round_to;

/// Decimal places of stored move values.
pub const VALUE_PLACES: u32 = 6;

/// What a stock of one item is worth under moving-average costing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Valuation {
    /// Quantity on hand.
    pub qty: Decimal,
    /// Its total value.
    pub value: Decimal,
}

impl Valuation {
    /// The average unit cost (zero for an empty or negative stock).
    pub fn unit_cost(&self) -> Decimal {
        if self.qty > Decimal::ZERO { self.value / self.qty } else { Decimal::ZERO }
    }

    /// Receives `qty` at `unit_cost`: returns the move's value and the new valuation.
    pub fn receive(self, qty: Decimal, unit_cost: Decimal) -> (Decimal, Valuation) {
        let value = round_to(qty * unit_cost, VALUE_PLACES);
        (value, Valuation { qty: self.qty + qty, value: self.value + value })
    }

    /// Issues `qty` at the current average: returns the (positive) value taken out and the new
    /// valuation. Issuing everything takes exactly the whole value, so no rounding residue is
    /// left behind on an empty stock. Issuing from an empty or negative stock uses
    /// `fallback_cost` (the last known average or the standard cost).
    pub fn issue(self, qty: Decimal, fallback_cost: Decimal) -> (Decimal, Valuation) {
        let value = if self.qty > Decimal::ZERO && qty == self.qty {
            self.value
        } else if self.qty > Decimal::ZERO && qty < self.qty {
            round_to(self.value * qty / self.qty, VALUE_PLACES)
        } else {
            // Going below zero: what is there goes at its value, the rest at the fallback.
            let covered = self.qty.max(Decimal::ZERO);
            let from_stock = if covered > Decimal::ZERO { self.value } else { Decimal::ZERO };
            from_stock + round_to((qty - covered) * fallback_cost, VALUE_PLACES)
        };
        (value, Valuation { qty: self.qty - qty, value: self.value - value })
    }
}

/// A lot with stock available, as the issue suggestion sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LotStock {
    /// Lot number.
    pub lot: String,
    /// When it was received.
    pub received: NaiveDate,
    /// When it expires.
    pub expiry: Option<NaiveDate>,
    /// Quantity available.
    pub available: Decimal,
}

/// How lots are picked for an issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LotPolicy {
    /// First in, first out: oldest receipt first.
    Fifo,
    /// First expired, first out: earliest expiry first (lots without one last), then FIFO.
    Fefo,
}

/// Suggests lots for issuing `qty`: (lot, quantity) pairs in picking order, and the quantity
/// no lot could cover. Expired lots (expiry before `today`) are never suggested.
pub fn suggest_lots(
    lots: &[LotStock],
    qty: Decimal,
    policy: LotPolicy,
    today: NaiveDate,
) -> (Vec<(String, Decimal)>, Decimal) {
    let mut usable: Vec<&LotStock> = lots
        .iter()
        .filter(|l| l.available > Decimal::ZERO && l.expiry.is_none_or(|e| e >= today))
        .collect();
    usable.sort_by(|a, b| match policy {
        LotPolicy::Fifo => (a.received, &a.lot).cmp(&(b.received, &b.lot)),
        LotPolicy::Fefo => {
            let key = |l: &LotStock| (l.expiry.is_none(), l.expiry, l.received, l.lot.clone());
            key(a).cmp(&key(b))
        }
    });
    let mut left = qty;
    let mut picks = Vec::new();
    for lot in usable {
        if left <= Decimal::ZERO {
            break;
        }
        let take = lot.available.min(left);
        picks.push((lot.lot.clone(), take));
        left -= take;
    }
    (picks, left.max(Decimal::ZERO))
}

/// Where an item's stock stands against its planning levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StockAlert {
    /// Below safety stock.
    BelowSafety,
    /// At or below the reorder point (and not below safety).
    AtReorderPoint,
    /// Above maximum stock.
    AboveMaximum,
}

/// The alert for `on_hand` (or available) stock, if any. A zero safety stock or reorder point
/// means the level is not set.
pub fn stock_alert(
    on_hand: Decimal,
    safety: Decimal,
    reorder: Decimal,
    maximum: Option<Decimal>,
) -> Option<StockAlert> {
    if safety > Decimal::ZERO && on_hand < safety {
        Some(StockAlert::BelowSafety)
    } else if reorder > Decimal::ZERO && on_hand <= reorder {
        Some(StockAlert::AtReorderPoint)
    } else if maximum.is_some_and(|m| on_hand > m) {
        Some(StockAlert::AboveMaximum)
    } else {
        None
    }
}

/// A receipt layer for ageing: when and how much came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    /// Receipt date.
    pub date: NaiveDate,
    /// Quantity received.
    pub qty: Decimal,
}

/// Default ageing bucket bounds in days: 0–30, 31–90, 91–180, 181–365, over 365.
pub const DEFAULT_AGEING: &[i64] = &[30, 90, 180, 365];

/// Splits `on_hand` into age buckets by receipt date, assuming first-in-first-out (what is
/// left is what came in last). Returns one quantity per bucket: `bounds.len() + 1` of them,
/// the last for stock older than the last bound. Stock not covered by any listed receipt
/// (opening balances) counts as oldest.
pub fn ageing(
    on_hand: Decimal,
    receipts: &[Receipt],
    today: NaiveDate,
    bounds: &[i64],
) -> Vec<Decimal> {
    let mut buckets = vec![Decimal::ZERO; bounds.len() + 1];
    let mut newest_first: Vec<&Receipt> = receipts.iter().collect();
    newest_first.sort_by_key(|r| std::cmp::Reverse(r.date));
    let mut left = on_hand.max(Decimal::ZERO);
    let bucket_of = |age: i64| bounds.iter().position(|b| age <= *b).unwrap_or(bounds.len());
    for r in newest_first {
        if left <= Decimal::ZERO {
            break;
        }
        let take = r.qty.min(left);
        let age = (today - r.date).num_days().max(0);
        if let Some(slot) = buckets.get_mut(bucket_of(age)) {
            *slot += take;
        }
        left -= take;
    }
    if let Some(last) = buckets.last_mut() {
        *last += left;
    }
    buckets
}

/// Inventory turnover over a period: cost of issues divided by the average stock value, and
/// days of inventory (`period_days / turnover`). `None` when the average stock is zero or
/// nothing was issued.
pub fn turnover(
    issue_value: Decimal,
    average_value: Decimal,
    period_days: i64,
) -> Option<(Decimal, Decimal)> {
    if average_value <= Decimal::ZERO || issue_value <= Decimal::ZERO {
        return None;
    }
    let turns = issue_value / average_value;
    // Days straight from the figures rather than over the already divided `turns`, whose
    // 28 digits can leave 419.74999… where the exact answer is 419.75.
    let days = Decimal::from(period_days) * average_value / issue_value;
    Some((round_to(turns, 2), round_to(days, 1)))
}

/// ABC classes by usage value: items making the first `a_pct` percent of the total are A, the
/// next up to `a_pct + b_pct` are B, the rest C. Returns (key, class) in descending usage.
pub fn abc_classes<K: Clone>(
    usage: &[(K, Decimal)],
    a_pct: Decimal,
    b_pct: Decimal,
) -> Vec<(K, char)> {
    let total: Decimal = usage.iter().map(|(_, v)| (*v).max(Decimal::ZERO)).sum();
    let mut sorted: Vec<&(K, Decimal)> = usage.iter().collect();
    sorted.sort_by_key(|entry| std::cmp::Reverse(entry.1));
    let mut running = Decimal::ZERO;
    sorted
        .into_iter()
        .map(|(k, v)| {
            // The class is decided by where the item starts, so the item that crosses the A
            // line is still A.
            let share_before = if total > Decimal::ZERO {
                running * Decimal::ONE_HUNDRED / total
            } else {
                Decimal::ONE_HUNDRED
            };
            running += (*v).max(Decimal::ZERO);
            let class = if share_before < a_pct {
                'A'
            } else if share_before < a_pct + b_pct {
                'B'
            } else {
                'C'
            };
            (k.clone(), class)
        })
        .collect()
}

/// Days an item has lain idle in a warehouse on `as_of`: since its last issue, or, if it was
/// never issued, since its first receipt. `None` when neither is known.
pub fn idle_days(
    last_issue: Option<NaiveDate>,
    first_receipt: Option<NaiveDate>,
    as_of: NaiveDate,
) -> Option<i64> {
    last_issue.or(first_receipt).map(|since| (as_of - since).num_days().max(0))
}

/// Splits a stock's `value` over ageing buckets in proportion to their quantities
/// (`bucket_qty`, as [`ageing`] returns them for `on_hand`). Each share is rounded to `places`;
/// the oldest non-empty bucket takes the rounding residue so the shares add up to `value`
/// exactly. With nothing on hand every share is zero.
pub fn bucket_values(
    bucket_qty: &[Decimal],
    on_hand: Decimal,
    value: Decimal,
    places: u32,
) -> Vec<Decimal> {
    let mut out = vec![Decimal::ZERO; bucket_qty.len()];
    if on_hand <= Decimal::ZERO {
        return out;
    }
    let mut given = Decimal::ZERO;
    for (share, qty) in out.iter_mut().zip(bucket_qty) {
        *share = round_to(value * *qty / on_hand, places);
        given += *share;
    }
    let oldest = bucket_qty.iter().rposition(|q| *q > Decimal::ZERO);
    if let Some(slot) = oldest.and_then(|i| out.get_mut(i)) {
        *slot += value - given;
    }
    out
}

/// The dates at which stock is valued to average it over the period `from`..=`to`: the end
/// of the day before `from`, the end of every month that closes inside the period, and `to`.
/// An empty list when `to` is before `from`.
pub fn average_points(from: NaiveDate, to: NaiveDate) -> Vec<NaiveDate> {
    if to < from {
        return Vec::new();
    }
    let mut points = vec![from.pred_opt().unwrap_or(from)];
    let mut cursor = from;
    while let Some(end) = month_end(cursor) {
        if end >= to {
            break;
        }
        points.push(end);
        match end.succ_opt() {
            Some(next) => cursor = next,
            None => break,
        }
    }
    points.push(to);
    points
}

/// The last day of `date`'s month.
fn month_end(date: NaiveDate) -> Option<NaiveDate> {
    use chrono::Datelike;
    let (y, m) =
        if date.month() == 12 { (date.year() + 1, 1) } else { (date.year(), date.month() + 1) };
    NaiveDate::from_ymd_opt(y, m, 1).and_then(|first| first.pred_opt())
}

/// The average of stock values taken at [`average_points`], rounded to `places`. Zero for no
/// points.
pub fn average_value(values: &[Decimal], places: u32) -> Decimal {
    if values.is_empty() {
        return Decimal::ZERO;
    }
    let total: Decimal = values.iter().sum();
    round_to(total / Decimal::from(values.len()), places)
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
    fn moving_average_worked_by_hand() {
        // Receive 100 at 2.00, receive 50 at 3.20: 150 worth 360, average 2.40.
        let v = Valuation::default();
        let (in1, v) = v.receive(dec!(100), dec!(2));
        let (in2, v) = v.receive(dec!(50), dec!(3.2));
        assert_eq!((in1, in2), (dec!(200), dec!(160)));
        assert_eq!(v, Valuation { qty: dec!(150), value: dec!(360) });
        assert_eq!(v.unit_cost(), dec!(2.4));
        // Issue 60 at 2.40 = 144; 90 left worth 216.
        let (out, v) = v.issue(dec!(60), dec!(0));
        assert_eq!(out, dec!(144));
        assert_eq!(v, Valuation { qty: dec!(90), value: dec!(216) });
        // Thirds leave a residue that the last issue takes.
        let v = Valuation { qty: dec!(3), value: dec!(10) };
        let (a, v) = v.issue(dec!(1), dec!(0));
        let (b, v) = v.issue(dec!(1), dec!(0));
        let (c, v) = v.issue(dec!(1), dec!(0));
        assert_eq!(a + b + c, dec!(10));
        assert_eq!(v, Valuation { qty: dec!(0), value: dec!(0) });
    }

    #[test]
    fn issuing_below_zero_uses_the_fallback_cost() {
        let v = Valuation { qty: dec!(2), value: dec!(5) };
        let (out, v) = v.issue(dec!(5), dec!(2));
        assert_eq!(out, dec!(11)); // 5 for the two on hand, 3 × 2 for the rest
        assert_eq!(v, Valuation { qty: dec!(-3), value: dec!(-6) });
    }

    #[test]
    fn lots_by_fifo_and_fefo() {
        let lots = vec![
            LotStock {
                lot: "L1".into(),
                received: d(2026, 1, 5),
                expiry: Some(d(2027, 6, 1)),
                available: dec!(10),
            },
            LotStock {
                lot: "L2".into(),
                received: d(2026, 2, 1),
                expiry: Some(d(2026, 12, 31)),
                available: dec!(10),
            },
            LotStock {
                lot: "L3".into(),
                received: d(2025, 12, 1),
                expiry: Some(d(2026, 11, 30)),
                available: dec!(10),
            },
        ];
        let today = d(2026, 12, 3);
        // L3 has expired: never suggested.
        let (fifo, short) = suggest_lots(&lots, dec!(15), LotPolicy::Fifo, today);
        assert_eq!(fifo, vec![("L1".into(), dec!(10)), ("L2".into(), dec!(5))]);
        assert_eq!(short, dec!(0));
        let (fefo, _) = suggest_lots(&lots, dec!(15), LotPolicy::Fefo, today);
        assert_eq!(fefo, vec![("L2".into(), dec!(10)), ("L1".into(), dec!(5))]);
        let (_, short) = suggest_lots(&lots, dec!(25), LotPolicy::Fifo, today);
        assert_eq!(short, dec!(5));
    }

    #[test]
    fn alerts() {
        assert_eq!(stock_alert(dec!(5), dec!(10), dec!(20), None), Some(StockAlert::BelowSafety));
        assert_eq!(
            stock_alert(dec!(20), dec!(10), dec!(20), None),
            Some(StockAlert::AtReorderPoint)
        );
        assert_eq!(
            stock_alert(dec!(61), dec!(10), dec!(20), Some(dec!(60))),
            Some(StockAlert::AboveMaximum)
        );
        assert_eq!(stock_alert(dec!(30), dec!(10), dec!(20), Some(dec!(60))), None);
        assert_eq!(stock_alert(dec!(0), dec!(0), dec!(0), None), None);
    }

    #[test]
    fn ageing_worked_by_hand() {
        let today = d(2026, 12, 3);
        let receipts = [
            Receipt { date: d(2026, 11, 20), qty: dec!(40) }, // 13 days
            Receipt { date: d(2026, 8, 1), qty: dec!(50) },   // 124 days
            Receipt { date: d(2025, 6, 1), qty: dec!(100) },  // 550 days
        ];
        // 100 on hand: the newest 40, then 50, then 10 of the oldest.
        let b = ageing(dec!(100), &receipts, today, DEFAULT_AGEING);
        assert_eq!(b, vec![dec!(40), dec!(0), dec!(50), dec!(0), dec!(10)]);
        // More on hand than receipts explain: the rest is oldest.
        let b = ageing(dec!(200), &receipts, today, DEFAULT_AGEING);
        assert_eq!(b.last().copied(), Some(dec!(110)));
    }

    #[test]
    fn turnover_and_abc() {
        assert_eq!(turnover(dec!(1200), dec!(300), 365), Some((dec!(4), dec!(91.3))));
        assert_eq!(turnover(dec!(0), dec!(300), 365), None);
        // 92 days × 365 / 80 = 419.75 exactly, which rounds half away from zero to 419.8.
        assert_eq!(turnover(dec!(80), dec!(365), 92), Some((dec!(0.22), dec!(419.8))));
        let usage = vec![("X", dec!(700)), ("Y", dec!(200)), ("Z", dec!(60)), ("W", dec!(40))];
        let classes = abc_classes(&usage, dec!(80), dec!(15));
        assert_eq!(classes, vec![("X", 'A'), ("Y", 'A'), ("Z", 'B'), ("W", 'C')]);
    }

    #[test]
    fn idle_days_from_last_issue_else_first_receipt() {
        let today = d(2026, 12, 3);
        // Issued on 1 Sep: 30 + 31 + 30 + 2 = 93 days.
        assert_eq!(idle_days(Some(d(2026, 9, 1)), Some(d(2026, 1, 1)), today), Some(93));
        // Never issued, received 1 Jan 2026: 336 days.
        assert_eq!(idle_days(None, Some(d(2026, 1, 1)), today), Some(336));
        assert_eq!(idle_days(None, None, today), None);
    }

    #[test]
    fn bucket_values_split_by_quantity() {
        // 100 worth 1000: 40, 50 and 10 pieces get 400, 500 and 100.
        let q = [dec!(40), dec!(0), dec!(50), dec!(0), dec!(10)];
        let v = bucket_values(&q, dec!(100), dec!(1000), 2);
        assert_eq!(v, vec![dec!(400), dec!(0), dec!(500), dec!(0), dec!(100)]);
        // 3 pieces worth 10 in thirds: 3.33 + 3.33 and the oldest takes 3.34.
        let v = bucket_values(&[dec!(1), dec!(1), dec!(1)], dec!(3), dec!(10), 2);
        assert_eq!(v, vec![dec!(3.33), dec!(3.33), dec!(3.34)]);
        assert_eq!(bucket_values(&[dec!(0)], dec!(0), dec!(5), 2), vec![dec!(0)]);
    }

    #[test]
    fn average_points_are_month_ends() {
        let p = average_points(d(2026, 1, 1), d(2026, 3, 31));
        assert_eq!(p, vec![d(2025, 12, 31), d(2026, 1, 31), d(2026, 2, 28), d(2026, 3, 31)]);
        let p = average_points(d(2026, 11, 15), d(2026, 12, 10));
        assert_eq!(p, vec![d(2026, 11, 14), d(2026, 11, 30), d(2026, 12, 10)]);
        assert!(average_points(d(2026, 2, 1), d(2026, 1, 1)).is_empty());
        // (300 + 500 + 100) / 3 = 300; 10 / 3 rounds to 3.33.
        assert_eq!(average_value(&[dec!(300), dec!(500), dec!(100)], 2), dec!(300));
        assert_eq!(average_value(&[dec!(10), dec!(0), dec!(0)], 2), dec!(3.33));
    }

    proptest! {
        #[test]
        fn valuation_never_loses_value(moves in proptest::collection::vec((1i64..1000, 0i64..5000, proptest::bool::ANY), 1..40)) {
            // Sum of receipt values minus sum of issue values equals the value on hand.
            let mut v = Valuation::default();
            let (mut ins, mut outs) = (Decimal::ZERO, Decimal::ZERO);
            for (qty, cost_cents, receive) in moves {
                let qty = Decimal::from(qty);
                if receive || v.qty < qty {
                    let (value, next) = v.receive(qty, Decimal::new(cost_cents, 2));
                    ins += value;
                    v = next;
                } else {
                    let (value, next) = v.issue(qty, Decimal::ZERO);
                    outs += value;
                    v = next;
                }
                prop_assert!(v.qty >= Decimal::ZERO);
                prop_assert_eq!(ins - outs, v.value);
                if v.qty.is_zero() {
                    prop_assert_eq!(v.value, Decimal::ZERO);
                }
            }
        }

        #[test]
        fn lot_suggestion_covers_what_it_can(avail in proptest::collection::vec(0i64..100, 0..10), want in 0i64..500) {
            let today = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
            let lots: Vec<LotStock> = avail.iter().enumerate().map(|(i, a)| LotStock {
                lot: format!("L{i}"), received: today, expiry: None, available: Decimal::from(*a),
            }).collect();
            let (picks, short) = suggest_lots(&lots, Decimal::from(want), LotPolicy::Fifo, today);
            let picked: Decimal = picks.iter().map(|p| p.1).sum();
            prop_assert_eq!(picked + short, Decimal::from(want));
            let total: Decimal = avail.iter().map(|a| Decimal::from(*a)).sum();
            prop_assert!(picked <= total);
        }
    }
}
