//! A sample invoice of any length, the same for the criterion benchmark and the side-by-side
//! benchmark suite: a B2C order with long accented titles, mixed VAT rates (20, 5.5, 10) and
//! shipping on the first line, issued by sample seller 0 (a French SAS).

use marketbill_domain::{Invoice, IssueRequest, Order, draft_invoice};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use time::macros::datetime;

use crate::sellers::{SampleError, sample_seller};

#[derive(Debug, thiserror::Error)]
pub enum SampleInvoiceError {
    #[error(transparent)]
    Seller(#[from] SampleError),
    #[error("the sample order does not parse: {0}")]
    Order(String),
    #[error("the sample order is refused: {0}")]
    Refused(String),
}

/// A decimal as a JSON number (exact, through serde_json's arbitrary precision).
fn number(d: Decimal) -> Value {
    serde_json::from_str(&d.to_string()).unwrap_or(Value::Null)
}

/// The invoice of a sample order of `lines` lines, numbered first of its series.
pub fn sample_invoice(lines: usize) -> Result<Invoice, SampleInvoiceError> {
    let titles = [
        "Théière en fonte émaillée 1,2 L — rouge",
        "Livre « Les Misérables » édition illustrée",
        "Chargeur USB-C 65 W GaN",
    ];
    let rates = [Decimal::new(200, 1), Decimal::new(55, 1), Decimal::new(100, 1)];
    let address = json!({"firstName": "Élodie", "lastName": "Durand", "addressLine1": "3 rue des Lilas",
                         "postalCode": "69003", "city": "Lyon", "countryCode": "FR"});
    let mut total = Decimal::ZERO;
    let items: Vec<Value> = (0..lines)
        .map(|i| {
            let unit = Decimal::new(1999 + i as i64 * 101, 2);
            let ship = if i == 0 { Decimal::new(499, 2) } else { Decimal::ZERO };
            let qty = 1 + (i % 3) as i64;
            total += unit * Decimal::from(qty) + ship;
            json!({"orderLineId": (i + 1).to_string(), "status": "Shipped", "quantity": qty,
                   "offer": {"sellerProductId": format!("SKU-{i}"), "productTitle": titles[i % 3]},
                   "sellingPrice": {"unitSalesPrice": number(unit), "shippingCost": number(ship),
                                    "taxes": [{"rate": number(rates[i % 3])}]},
                   "shippingAddress": address})
        })
        .collect();
    let order = Order::from_value(json!({
        "orderId": "2611211432ABCD", "status": "Shipped", "seller": {"id": "10000"},
        "purchasedAt": "2026-11-21T10:00:00Z", "updatedAt": "2026-11-21T18:00:00Z",
        "billingAddress": address,
        "totalPrice": {"sellingPrice": number(total)},
        "lines": items
    }))
    .map_err(|e| SampleInvoiceError::Order(e.to_string()))?;
    let seller = sample_seller(0, "10000")?;
    let draft = draft_invoice(&IssueRequest {
        order: &order,
        seller: &seller,
        buyer_data: None,
        issued_at: datetime!(2026-11-22 05:00 UTC),
    })
    .map_err(|e| SampleInvoiceError::Refused(e.to_string()))?;
    let number = draft.series.number(1).map_err(|e| SampleInvoiceError::Refused(e.to_string()))?;
    Ok(draft.finalize(number))
}

/// A credit note of one unit of an invoice's first line ("retour"), numbered first of the
/// seller's credit-note series.
pub fn sample_credit_note(
    inv: &Invoice,
    seller: &marketbill_domain::SellerProfile,
    at: time::OffsetDateTime,
) -> Result<Invoice, SampleInvoiceError> {
    use marketbill_domain::credit::{CreditItem, Credited};
    let items = [CreditItem::Units { line: 1, quantity: Decimal::ONE }];
    let (draft, _) = inv
        .credit(seller, at, &items, "retour", &Credited::default())
        .map_err(|e| SampleInvoiceError::Refused(e.to_string()))?;
    let number = draft.series.number(1).map_err(|e| SampleInvoiceError::Refused(e.to_string()))?;
    Ok(draft.finalize(number))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_invoices_have_the_lines_asked_and_balance() {
        for n in [1, 3, 60] {
            let inv = sample_invoice(n).unwrap();
            assert_eq!(
                inv.body.lines.iter().filter(|l| l.kind == marketbill_domain::invoice::LineKind::Goods).count(),
                n
            );
            let t = &inv.body.totals;
            assert_eq!(t.tax_exclusive + t.vat_total, t.tax_inclusive);
            assert_eq!(inv.body.vat_breakdown.len(), 3.min(n));
        }
    }
}
