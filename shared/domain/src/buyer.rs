//! Buyer billing data given by the buyer (a company name, a tax number, a corrected address),
//! which replaces what the order says when an invoice is issued or re-issued.

use serde::{Deserialize, Serialize};

use crate::country::CountryCode;
use crate::ids::{Siren, VatNumber};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum BuyerKind {
    Individual,
    Company,
}

/// A buyer's tax identification: an EU VAT number or a French SIREN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type", content = "value")]
pub enum TaxNumber {
    Vat(VatNumber),
    Siren(Siren),
}

impl TaxNumber {
    /// Reads a VAT number (`FR…`, `DE…`) or a SIREN (9 digits).
    pub fn parse(raw: &str) -> Result<TaxNumber, crate::ids::IdError> {
        let compact: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
        if compact.len() == 9 && compact.bytes().all(|b| b.is_ascii_digit()) {
            compact.parse().map(TaxNumber::Siren)
        } else {
            raw.parse().map(TaxNumber::Vat)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuyerAddress {
    pub line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    pub postal_code: String,
    pub city: String,
    pub country_code: CountryCode,
}

/// Billing data a buyer asked for (already validated by whoever built it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuyerBillingData {
    pub kind: BuyerKind,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_number: Option<TaxNumber>,
    pub address: BuyerAddress,
}

impl BuyerBillingData {
    pub fn vat_number(&self) -> Option<&VatNumber> {
        match &self.tax_number {
            Some(TaxNumber::Vat(v)) => Some(v),
            _ => None,
        }
    }

    /// The SIREN given directly, or embedded in a French VAT number.
    pub fn siren(&self) -> Option<Siren> {
        match &self.tax_number {
            Some(TaxNumber::Siren(s)) => Some(s.clone()),
            Some(TaxNumber::Vat(v)) => v.french_siren().and_then(|s| s.parse().ok()),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tax_numbers_are_recognised() {
        assert!(matches!(TaxNumber::parse("732 829 320"), Ok(TaxNumber::Siren(_))));
        assert!(matches!(TaxNumber::parse("FR44732829320"), Ok(TaxNumber::Vat(_))));
        assert!(TaxNumber::parse("732829321").is_err());
        assert!(TaxNumber::parse("hello").is_err());
    }
}
