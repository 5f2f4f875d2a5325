//! Sample billing data a buyer gives when asking for an invoice in a company's name.

use marketbill_domain::CountryCode;
use marketbill_domain::buyer::{BuyerAddress, BuyerBillingData, BuyerKind, TaxNumber};
use marketbill_domain::ids::IdError;

/// A company in Paris (Atelier Durand SARL) with its VAT number or SIREN.
pub fn company(tax: &str) -> Result<BuyerBillingData, IdError> {
    Ok(BuyerBillingData {
        kind: BuyerKind::Company,
        name: "Atelier Durand SARL".into(),
        tax_number: Some(TaxNumber::parse(tax)?),
        address: BuyerAddress {
            line1: "8 avenue Foch".into(),
            line2: None,
            postal_code: "75016".into(),
            city: "Paris".into(),
            country_code: CountryCode::FR,
        },
    })
}
