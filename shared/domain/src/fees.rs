//! Fee plans as data. The catalogue (`data/fee-plans.json`) is bundled as the default and can
//! be replaced by configuration; the code only knows how to read a plan, not its prices.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The plan a seller chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PlanKind {
    /// A price per invoice for the first N invoices of a month, free beyond.
    PerInvoice,
    /// A monthly price by tier of invoices issued in the previous month.
    Tiered,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PerInvoicePlan {
    pub currency: String,
    pub price_per_invoice: Decimal,
    /// Invoices of a month that are billed; those beyond are free.
    pub billed_invoices_per_month: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Tier {
    /// Inclusive upper bound of invoices; `None` for the last, open tier.
    pub up_to: Option<u64>,
    pub price: Decimal,
}

/// Which month's count selects the tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TierBasis {
    PreviousMonth,
    CurrentMonth,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TieredPlan {
    pub currency: String,
    pub basis: TierBasis,
    pub tiers: Vec<Tier>,
}

/// The catalogue of plans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FeePlans {
    pub per_invoice: PerInvoicePlan,
    pub tiered: TieredPlan,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeePlanError {
    #[error("the fee plan catalogue is not valid JSON: {0}")]
    Json(String),
    #[error("the tiers must be in increasing order and end with one open tier (upTo null)")]
    Tiers,
    #[error("prices must not be negative")]
    NegativePrice,
}

/// The fee of one month under a plan, excluding VAT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MonthlyFee {
    pub plan: PlanKind,
    pub currency: String,
    pub amount_excl_vat: Decimal,
    /// The number of invoices the fee was computed on.
    pub invoices_counted: u64,
}

impl FeePlans {
    /// The bundled catalogue: €0.10 per invoice for the first 400 of a month, or tiers
    /// 0–100 €9.99, 101–200 €19.99, 201–300 €29.99, 301+ €39.99 by the previous month.
    pub fn bundled() -> FeePlans {
        // The bundled file is checked by a test; a broken build would fail there first.
        FeePlans::from_json(include_str!("../data/fee-plans.json")).unwrap_or_else(|_| FeePlans::fallback())
    }

    fn fallback() -> FeePlans {
        FeePlans {
            per_invoice: PerInvoicePlan {
                currency: "EUR".into(),
                price_per_invoice: Decimal::new(10, 2),
                billed_invoices_per_month: 400,
            },
            tiered: TieredPlan {
                currency: "EUR".into(),
                basis: TierBasis::PreviousMonth,
                tiers: vec![
                    Tier { up_to: Some(100), price: Decimal::new(999, 2) },
                    Tier { up_to: Some(200), price: Decimal::new(1999, 2) },
                    Tier { up_to: Some(300), price: Decimal::new(2999, 2) },
                    Tier { up_to: None, price: Decimal::new(3999, 2) },
                ],
            },
        }
    }

    /// Reads and checks a catalogue.
    pub fn from_json(text: &str) -> Result<FeePlans, FeePlanError> {
        let plans: FeePlans = serde_json::from_str(text).map_err(|e| FeePlanError::Json(e.to_string()))?;
        plans.check()?;
        Ok(plans)
    }

    fn check(&self) -> Result<(), FeePlanError> {
        if self.per_invoice.price_per_invoice < Decimal::ZERO
            || self.tiered.tiers.iter().any(|t| t.price < Decimal::ZERO)
        {
            return Err(FeePlanError::NegativePrice);
        }
        let tiers = &self.tiered.tiers;
        let (last, rest) = tiers.split_last().ok_or(FeePlanError::Tiers)?;
        if last.up_to.is_some() || rest.iter().any(|t| t.up_to.is_none()) {
            return Err(FeePlanError::Tiers);
        }
        if rest.windows(2).any(|w| w[0].up_to >= w[1].up_to) {
            return Err(FeePlanError::Tiers);
        }
        Ok(())
    }

    /// The fee of a month, given the invoices issued this month and in the previous month.
    pub fn monthly_fee(&self, plan: PlanKind, this_month: u64, previous_month: u64) -> MonthlyFee {
        match plan {
            PlanKind::PerInvoice => {
                let p = &self.per_invoice;
                let billed = this_month.min(p.billed_invoices_per_month);
                MonthlyFee {
                    plan,
                    currency: p.currency.clone(),
                    amount_excl_vat: p.price_per_invoice * Decimal::from(billed),
                    invoices_counted: this_month,
                }
            }
            PlanKind::Tiered => {
                let t = &self.tiered;
                let counted = match t.basis {
                    TierBasis::PreviousMonth => previous_month,
                    TierBasis::CurrentMonth => this_month,
                };
                let price = t
                    .tiers
                    .iter()
                    .find(|tier| tier.up_to.is_none_or(|max| counted <= max))
                    .map(|tier| tier.price)
                    .unwrap_or(Decimal::ZERO);
                MonthlyFee { plan, currency: t.currency.clone(), amount_excl_vat: price, invoices_counted: counted }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn the_bundled_catalogue_is_valid_and_matches_the_fallback() {
        let parsed = FeePlans::from_json(include_str!("../data/fee-plans.json")).unwrap();
        assert_eq!(parsed, FeePlans::fallback());
    }

    #[test]
    fn per_invoice_plan_bills_the_first_400_invoices() {
        let plans = FeePlans::bundled();
        let fee = |n| plans.monthly_fee(PlanKind::PerInvoice, n, 0).amount_excl_vat;
        let cases = [
            (0, dec!(0)),
            (1, dec!(0.10)),
            (100, dec!(10.00)),
            (101, dec!(10.10)),
            (300, dec!(30.00)),
            (301, dec!(30.10)),
            (400, dec!(40.00)),
            (401, dec!(40.00)),
        ];
        for (n, expected) in cases {
            assert_eq!(fee(n), expected, "{n} invoices");
        }
    }

    #[test]
    fn tiered_plan_uses_the_previous_month() {
        let plans = FeePlans::bundled();
        let fee = |prev| plans.monthly_fee(PlanKind::Tiered, 9999, prev).amount_excl_vat;
        let cases = [
            (0, dec!(9.99)),
            (1, dec!(9.99)),
            (100, dec!(9.99)),
            (101, dec!(19.99)),
            (200, dec!(19.99)),
            (201, dec!(29.99)),
            (300, dec!(29.99)),
            (301, dec!(39.99)),
            (400, dec!(39.99)),
            (401, dec!(39.99)),
        ];
        for (n, expected) in cases {
            assert_eq!(fee(n), expected, "{n} invoices last month");
        }
    }

    #[test]
    fn plans_are_data_a_different_catalogue_changes_prices() {
        let text = r#"{"perInvoice":{"currency":"EUR","pricePerInvoice":"0.05","billedInvoicesPerMonth":10},
          "tiered":{"currency":"EUR","basis":"currentMonth","tiers":[{"upTo":5,"price":"1"},{"upTo":null,"price":"2"}]}}"#;
        let plans = FeePlans::from_json(text).unwrap();
        assert_eq!(plans.monthly_fee(PlanKind::PerInvoice, 20, 0).amount_excl_vat, dec!(0.50));
        assert_eq!(plans.monthly_fee(PlanKind::Tiered, 6, 0).amount_excl_vat, dec!(2));
    }

    #[test]
    fn malformed_catalogues_are_refused() {
        let unordered = r#"{"perInvoice":{"currency":"EUR","pricePerInvoice":"0.1","billedInvoicesPerMonth":1},
          "tiered":{"currency":"EUR","basis":"previousMonth","tiers":[{"upTo":5,"price":"1"},{"upTo":3,"price":"2"},{"upTo":null,"price":"2"}]}}"#;
        assert_eq!(FeePlans::from_json(unordered), Err(FeePlanError::Tiers));
        let no_open = r#"{"perInvoice":{"currency":"EUR","pricePerInvoice":"0.1","billedInvoicesPerMonth":1},
          "tiered":{"currency":"EUR","basis":"previousMonth","tiers":[{"upTo":5,"price":"1"}]}}"#;
        assert_eq!(FeePlans::from_json(no_open), Err(FeePlanError::Tiers));
        assert!(matches!(FeePlans::from_json("{"), Err(FeePlanError::Json(_))));
    }
}
