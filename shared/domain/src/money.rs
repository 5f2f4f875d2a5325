//! Amounts and VAT rates. Every amount is a `Decimal`; nothing here ever touches f64.

use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Rounds an amount to the cent, half away from zero (the commercial rounding of French invoices).
pub fn round_cents(amount: Decimal) -> Decimal {
    amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// Formats an amount with exactly two decimals (`12.5` → `12.50`), as XML and totals want.
pub fn format_amount(amount: Decimal) -> String {
    let mut rounded = round_cents(amount);
    rounded.rescale(2);
    rounded.to_string()
}

/// Formats an amount the French way: `1 234,50 €`.
pub fn format_euros_fr(amount: Decimal) -> String {
    let plain = format_amount(amount);
    let (sign, digits) = match plain.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", plain.as_str()),
    };
    let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, "00"));
    let mut grouped = String::with_capacity(int_part.len() + int_part.len() / 3);
    for (i, ch) in int_part.chars().enumerate() {
        if i > 0 && (int_part.len() - i) % 3 == 0 {
            // Narrow no-break space, the French thousands separator.
            grouped.push('\u{202f}');
        }
        grouped.push(ch);
    }
    format!("{sign}{grouped},{frac_part}\u{a0}€")
}

/// Formats a decimal with at least `min` and at most `max` decimals, trailing zeros trimmed
/// (unit prices: `12.5` → `12.50`, `0.123456` stays).
pub fn format_decimal(value: Decimal, min: u32, max: u32) -> String {
    let mut v = value.round_dp_with_strategy(max, RoundingStrategy::MidpointAwayFromZero);
    v = v.normalize();
    if v.scale() < min {
        v.rescale(min);
    }
    v.to_string()
}

/// A VAT rate in percent (`20`, `5.5`, `2.1`, `0`). Between 0 and 100, at most two decimals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VatRate(Decimal);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VatRateError {
    #[error("a VAT rate is a percentage between 0 and 100 with at most two decimals, got {0}")]
    OutOfRange(String),
    #[error("a VAT rate is a decimal number in percent such as \"20\" or \"5.5\", got {0:?}")]
    NotANumber(String),
}

impl VatRate {
    pub const ZERO: VatRate = VatRate(Decimal::ZERO);

    pub fn new(percent: Decimal) -> Result<Self, VatRateError> {
        let normalized = percent.normalize();
        if normalized < Decimal::ZERO || normalized >= Decimal::ONE_HUNDRED || normalized.scale() > 2 {
            return Err(VatRateError::OutOfRange(percent.to_string()));
        }
        Ok(VatRate(normalized))
    }

    /// The rate in percent, normalized (`20`, `5.5`).
    pub fn percent(self) -> Decimal {
        self.0
    }

    /// The rate as a fraction (`0.2`).
    pub fn fraction(self) -> Decimal {
        self.0 / Decimal::ONE_HUNDRED
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    /// VAT on a taxable base, rounded to the cent.
    pub fn vat_on(self, base: Decimal) -> Decimal {
        round_cents(base * self.fraction())
    }

    /// `20.00` — the form EN 16931 documents use.
    pub fn to_xml(self) -> String {
        let mut d = self.0;
        d.rescale(2);
        d.to_string()
    }

    /// `20 %`, `5,5 %` — the form a French reader expects.
    pub fn to_french(self) -> String {
        format!("{}\u{a0}%", self.0.to_string().replace('.', ","))
    }
}

impl fmt::Display for VatRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for VatRate {
    type Err = VatRateError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let d = Decimal::from_str(s.trim()).map_err(|_| VatRateError::NotANumber(s.to_owned()))?;
        VatRate::new(d)
    }
}

impl Serialize for VatRate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0.to_string())
    }
}

impl<'de> Deserialize<'de> for VatRate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Accepts "5.5" and 5.5 (a JSON number, read exactly thanks to arbitrary precision).
        let d = <Decimal as Deserialize>::deserialize(deserializer)?;
        VatRate::new(d).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(round_cents(dec!(0.125)), dec!(0.13));
        assert_eq!(round_cents(dec!(0.124)), dec!(0.12));
        assert_eq!(round_cents(dec!(-0.125)), dec!(-0.13));
    }

    #[test]
    fn amounts_format_with_two_decimals() {
        assert_eq!(format_amount(dec!(12.5)), "12.50");
        assert_eq!(format_amount(dec!(0)), "0.00");
        assert_eq!(format_euros_fr(dec!(1234567.5)), "1\u{202f}234\u{202f}567,50\u{a0}€");
        assert_eq!(format_euros_fr(dec!(-3)), "-3,00\u{a0}€");
    }

    #[test]
    fn unit_prices_keep_up_to_six_decimals() {
        assert_eq!(format_decimal(dec!(12.5), 2, 6), "12.50");
        assert_eq!(format_decimal(dec!(0.1234567), 2, 6), "0.123457");
        assert_eq!(format_decimal(dec!(3), 0, 4), "3");
    }

    #[test]
    fn vat_rates_are_validated_and_normalized() {
        assert_eq!("5.50".parse::<VatRate>().map(|r| r.percent()), Ok(dec!(5.5)));
        assert_eq!("20.0".parse::<VatRate>().map(|r| r.to_xml()), Ok("20.00".into()));
        assert!("100".parse::<VatRate>().is_err());
        assert!("-1".parse::<VatRate>().is_err());
        assert!("5.555".parse::<VatRate>().is_err());
        assert!("twenty".parse::<VatRate>().is_err());
        assert_eq!("5.5".parse::<VatRate>().map(|r| r.to_french()), Ok("5,5\u{a0}%".into()));
    }
}
