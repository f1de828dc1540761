//! Exact values with their dimension: a quantity has a unit, an amount has a currency.
//!
//! Decimals are `rust_decimal::Decimal`; storage keeps them as integers scaled by
//! [`SCALE`] so that sums are exact on SQLite and PostgreSQL alike.

use rust_decimal::Decimal;

/// Decimal places every stored quantity, price, amount and rate keeps.
pub const SCALE: u32 = 6;

/// A quantity of something, in a unit of measure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quantity {
    /// How many.
    pub value: Decimal,
    /// The unit's code (`PCS`, `KG`, `BOX12`).
    pub unit: String,
}

/// An amount of money in a currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Money {
    /// How much.
    pub amount: Decimal,
    /// ISO 4217 code (`CNY`).
    pub currency: String,
}

/// Converts a decimal to the scaled integer storage keeps, refusing more places than
/// [`SCALE`] or a value outside the `i64` range.
pub fn to_scaled(value: Decimal) -> Option<i64> {
    if value.normalize().scale() > SCALE {
        return None;
    }
    let mut scaled = value;
    scaled.rescale(SCALE);
    i64::try_from(scaled.mantissa()).ok()
}

/// Converts a stored scaled integer back to a decimal, trailing zeros removed.
pub fn from_scaled(raw: i64) -> Decimal {
    Decimal::new(raw, SCALE).normalize()
}

/// Rounds a decimal half away from zero to `places`, as amounts are rounded to a currency.
pub fn round_to(value: Decimal, places: u32) -> Decimal {
    value.round_dp_with_strategy(places, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    #[test]
    fn scaled_round_trip_examples() {
        assert_eq!(to_scaled(dec!(1.5)), Some(1_500_000));
        assert_eq!(to_scaled(dec!(-0.000001)), Some(-1));
        assert_eq!(to_scaled(dec!(0.0000001)), None);
        assert_eq!(from_scaled(12_000_000), dec!(12));
        assert_eq!(round_to(dec!(2.345), 2), dec!(2.35));
        assert_eq!(round_to(dec!(-2.345), 2), dec!(-2.35));
    }

    proptest! {
        #[test]
        fn scaled_round_trip(raw in any::<i64>()) {
            prop_assert_eq!(to_scaled(from_scaled(raw)), Some(raw));
        }
    }
}
