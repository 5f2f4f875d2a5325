//! Builders of marketplace orders (as Octopia JSON) and seller profiles for the domain tests.
#![allow(dead_code)]

use marketbill_domain::{Order, SellerProfile, SellerProfileInput};
use rust_decimal::Decimal;
use serde_json::{Value, json};

pub fn fr_address(country: &str) -> Value {
    json!({"firstName": "Élodie", "lastName": "Durand", "addressLine1": "3 rue des Lilas",
           "postalCode": "69003", "city": "Lyon", "countryCode": country,
           "email": "x8f2k@relay.marketplace.example"})
}

/// One line: `quantity` × `unit` (VAT incl.) plus `shipping`, at `rate` percent if given.
pub fn line(id: &str, quantity: u32, unit: &str, shipping: &str, rate: Option<&str>) -> Value {
    let unit_d: Decimal = unit.parse().unwrap();
    let ship_d: Decimal = shipping.parse().unwrap();
    let total = unit_d * Decimal::from(quantity) + ship_d;
    let taxes = match rate {
        Some(r) => json!([{"code": "VAT", "target": "Product", "rate": num(r)}]),
        None => json!([]),
    };
    json!({
        "orderLineId": id, "status": "Shipped", "quantity": quantity,
        "offer": {"sellerProductId": format!("SKU-{id}"), "supplyMode": "Seller",
                  "productTitle": format!("Article n°{id} — qualité supérieure"), "productGtin": "3760000000017"},
        "sellingPrice": {"unitSalesPrice": num(unit), "shippingCost": num(shipping), "taxes": taxes},
        "totalPrice": {"sellingPrice": num(&total.to_string())},
        "shippingAddress": fr_address("FR")
    })
}

/// A JSON number written exactly as given (parsed with serde_json's arbitrary precision).
pub fn num(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

pub fn order_value(id: &str, lines: Vec<Value>) -> Value {
    let total: Decimal =
        lines.iter().map(|l| l["totalPrice"]["sellingPrice"].to_string().parse::<Decimal>().unwrap()).sum();
    json!({
        "orderId": id, "status": "Shipped", "currencyCode": "EUR", "businessOrder": false,
        "seller": {"id": "12345"}, "customer": {"reference": "C-1"},
        "purchasedAt": "2026-11-20T10:00:00Z", "createdAt": "2026-11-20T10:00:05Z",
        "updatedAt": "2026-11-21T09:00:00Z", "payment": {"method": "CB"},
        "billingAddress": {"firstName": "Élodie", "lastName": "Durand", "addressLine1": "3 rue des Lilas",
                           "postalCode": "69003", "city": "Lyon", "countryCode": "FR"},
        "totalPrice": {"sellingPrice": num(&total.to_string())},
        "lines": lines
    })
}

pub fn order(id: &str, lines: Vec<Value>) -> Order {
    Order::from_value(order_value(id, lines)).unwrap()
}

pub fn seller(overrides: Value) -> SellerProfile {
    let mut base = json!({
        "legalName": "Maison Lumière", "legalForm": "SAS", "shareCapital": "10000",
        "siren": "732829320", "siret": "73282932000074", "rcsCity": "Lyon",
        "vatNumber": "FR44732829320",
        "address": {"line1": "12 quai Saint-Antoine", "postalCode": "69002", "city": "Lyon", "countryCode": "FR"},
        "email": "factures@maison-lumiere.example", "marketplaceSellerId": "12345",
        "vatScheme": "standard", "stockLocation": "sellerCountry", "defaultVatRate": "20",
        "skuVatRates": {}, "invoicePrefix": "F", "creditNotePrefix": "AV", "plan": "perInvoice"
    });
    if let (Some(obj), Some(over)) = (base.as_object_mut(), overrides.as_object()) {
        for (k, v) in over {
            if v.is_null() {
                obj.remove(k);
            } else {
                obj.insert(k.clone(), v.clone());
            }
        }
    }
    let input: SellerProfileInput = serde_json::from_value(base).unwrap();
    input.validate().unwrap()
}

pub fn german_seller(scheme: &str) -> SellerProfile {
    seller(json!({
        "legalName": "Bücherwurm GmbH", "legalForm": "GmbH", "shareCapital": "25000",
        "siren": null, "siret": null, "rcsCity": null, "vatNumber": "DE136695976",
        "address": {"line1": "Hauptstraße 5", "postalCode": "10115", "city": "Berlin", "countryCode": "DE"},
        "vatScheme": scheme, "defaultVatRate": if scheme == "homeCountry" { "19" } else { "20" },
        "register": "Amtsgericht Berlin-Charlottenburg, HRB 123456", "managers": "Anna Weber"
    }))
}
