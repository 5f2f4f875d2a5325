//! Sample seller profiles (valid identifiers, several countries and schemes).

use marketbill_domain::{SellerProfile, SellerProfileInput};
use serde_json::json;

/// The `n`-th sample seller (0-based), with marketplace seller id `seller_id`. Cycles through
/// a French SAS, a German seller under OSS, a French micro-entrepreneur (franchise), an
/// Italian seller under its home VAT, a Spanish seller with French stock.
pub fn sample_seller(n: usize, seller_id: &str) -> Result<SellerProfile, SampleError> {
    let value = match n % 5 {
        0 => json!({
            "legalName": "Maison Lumière", "legalForm": "SAS", "shareCapital": "10000",
            "siren": "732829320", "siret": "73282932000074", "rcsCity": "Lyon",
            "vatNumber": "FR44732829320",
            "address": {"line1": "12 quai Saint-Antoine", "postalCode": "69002", "city": "Lyon", "countryCode": "FR"},
            "email": "factures@maison-lumiere.example", "vatScheme": "standard",
            "stockLocation": "sellerCountry", "defaultVatRate": "20", "skuVatRates": {"LIV-0001": "5.5"},
            "invoicePrefix": "ML", "creditNotePrefix": "MLAV", "plan": "perInvoice"
        }),
        1 => json!({
            "legalName": "Bücherwurm GmbH", "legalForm": "GmbH", "shareCapital": "25000",
            "vatNumber": "DE136695976", "frenchVatNumber": "FR96552100554",
            "address": {"line1": "Hauptstraße 5", "postalCode": "10115", "city": "Berlin", "countryCode": "DE"},
            "email": "rechnung@buecherwurm.example", "vatScheme": "oss", "stockLocation": "sellerCountry",
            "defaultVatRate": "20", "invoicePrefix": "BW-F", "creditNotePrefix": "BW-AV", "plan": "tiered",
            "register": "Amtsgericht Berlin-Charlottenburg, HRB 123456", "managers": "Anna Weber, Jonas Krüger"
        }),
        2 => json!({
            "legalName": "Jeanne Martin — Créations", "legalForm": "EI",
            "siren": "303265045",
            "address": {"line1": "4 impasse des Tisserands", "postalCode": "44000", "city": "Nantes", "countryCode": "FR"},
            "email": "jeanne@creations-martin.example", "vatScheme": "franchise", "stockLocation": "sellerCountry",
            "defaultVatRate": "20", "invoicePrefix": "JM", "creditNotePrefix": "JMAV", "plan": "perInvoice"
        }),
        3 => json!({
            "legalName": "Sapori d'Italia S.r.l.", "legalForm": "S.r.l.", "shareCapital": "10000",
            "vatNumber": "IT00743110157", "frenchVatNumber": "FR59542051180",
            "address": {"line1": "Via Roma 1", "postalCode": "20121", "city": "Milano", "countryCode": "IT"},
            "email": "fatture@sapori.example", "vatScheme": "homeCountry", "stockLocation": "sellerCountry",
            "defaultVatRate": "22", "skuVatRates": {"LIV-0001": "4"}, "invoicePrefix": "SI",
            "creditNotePrefix": "SINC", "plan": "tiered"
        }),
        _ => json!({
            "legalName": "Cerámica del Sur S.L.", "legalForm": "S.L.",
            "vatNumber": "ESA28015865", "frenchVatNumber": "FR40303265045",
            "address": {"line1": "Calle Mayor 10", "postalCode": "28013", "city": "Madrid", "countryCode": "ES"},
            "email": "facturas@ceramica.example", "vatScheme": "oss", "stockLocation": "france",
            "defaultVatRate": "20", "invoicePrefix": "CS", "creditNotePrefix": "CSAB", "plan": "perInvoice"
        }),
    };
    let mut value = value;
    value["marketplaceSellerId"] = seller_id.into();
    let input: SellerProfileInput = serde_json::from_value(value).map_err(|e| SampleError::Json(n, e.to_string()))?;
    input.validate().map_err(|e| SampleError::Invalid(n, e))
}

/// A sample that does not hold (a bug in the samples or a marketplace id that is not numeric).
#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    #[error("sample seller {0} is not a profile: {1}")]
    Json(usize, String),
    #[error("sample seller {0} is invalid: {1}")]
    Invalid(usize, marketbill_domain::seller::ProfileErrors),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_seller_is_valid() {
        for n in 0..5 {
            let s = sample_seller(n, "1000").unwrap();
            assert_eq!(s.marketplace_seller_id, "1000");
        }
    }
}
