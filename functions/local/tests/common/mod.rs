//! What the command-line tests share.
#![allow(dead_code)]

pub const SELLER: &str = r#"{"legalName": "Maison Lumière", "legalForm": "SAS", "shareCapital": "10000",
 "siren": "732829320", "siret": "73282932000074", "rcsCity": "Lyon", "vatNumber": "FR44732829320",
 "address": {"line1": "12 quai Saint-Antoine", "postalCode": "69002", "city": "Lyon", "countryCode": "FR"},
 "email": "factures@maison-lumiere.example", "marketplaceSellerId": "12345",
 "vatScheme": "standard", "stockLocation": "sellerCountry", "defaultVatRate": "20",
 "invoicePrefix": "F", "creditNotePrefix": "AV", "plan": "perInvoice"}"#;

/// A child process killed when the test ends, whatever happens.
pub struct Child(pub std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
